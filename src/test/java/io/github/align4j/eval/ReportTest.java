package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Report files from known results: columns, best-cell marks, plots and the HTML page. */
class ReportTest {
    static Sweep.CellResult cell(String loss, double beta, double win, double kl, double acc) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("loss_type", loss);
        v.put("beta", beta);
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("win_rate", win);
        m.put("win_rate_low", win - 0.05);
        m.put("win_rate_high", win + 0.05);
        m.put("mean_reward", win - 0.5);
        m.put("sft_mean_reward", -0.2);
        m.put("kl", kl);
        m.put("pref_accuracy", acc);
        m.put("eval_loss", Double.NaN);
        return new Sweep.CellResult(new Sweep.Cell(v), m, 1.5, false);
    }

    static Sweep.Result result() {
        List<Sweep.CellResult> cells = new ArrayList<>();
        cells.add(cell("dpo", 0.01, 0.40, 9.0, 0.6));
        cells.add(cell("dpo", 0.1, 0.71, 2.0, 0.8));
        cells.add(cell("dpo", 0.9, 0.65, 0.5, 0.9));
        cells.add(cell("ipo", 0.01, 0.58, 3.0, 0.7));
        cells.add(cell("ipo", 0.1, 0.52, 2.5, 0.7));
        cells.add(cell("ipo", 0.9, 0.45, 0.4, 0.6));
        return new Sweep.Result(cells, "win_rate", null);
    }

    @Test
    void everyFileIsWrittenWithTheBestCellOfEachRowMarked(@TempDir Path dir) throws Exception {
        Sweep.Result r = result();
        List<Path> files = Report.write(r, "scan", "grid:\n  beta: [0.01, 0.1, 0.9]  # <exact>", "Winner: dpo", dir);
        assertEquals(List.of("results.csv", "results_summary.csv", "results.md", "metric_vs_beta.png", "metric_vs_beta.svg", "reward_vs_kl.png",
                "reward_vs_kl.svg", "accuracy_vs_beta.png", "accuracy_vs_beta.svg", "report.html"),
                files.stream().map(p -> p.getFileName().toString()).toList());

        List<String> csv = Files.readAllLines(dir.resolve("results.csv"));
        assertEquals("algorithm,beta,win_rate,win_rate_low,win_rate_high,mean_reward,sft_mean_reward,kl,pref_accuracy,"
                + "eval_loss,seconds,seed", csv.get(0));
        assertEquals(7, csv.size());
        assertTrue(csv.get(2).startsWith("dpo,0.1,0.71,"), csv.get(2));
        assertTrue(csv.get(2).contains(",,1.5"), "NaN is an empty field: " + csv.get(2));

        String md = Files.readString(dir.resolve("results.md"));
        assertTrue(md.contains("| algorithm | β = 0.01 | β = 0.1 | β = 0.9 |"), md);
        assertTrue(md.contains("| dpo | 40.0% [35.0, 45.0] | **71.0% [66.0, 76.0]** ★ | 65.0% [60.0, 70.0] |"), md);
        assertTrue(md.contains("| ipo | **58.0% [53.0, 63.0]** ★ | 52.0% [47.0, 57.0] | 45.0% [40.0, 50.0] |"), md);
        assertTrue(md.contains("Winner: dpo"));
        assertEquals("dpo", r.best().cell().algorithm());
        assertEquals(0.1, r.best().cell().beta());

        byte[] png = Files.readAllBytes(dir.resolve("metric_vs_beta.png"));
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(png, 4));
        assertTrue(png.length > 5000, "a drawn chart, not an empty image: " + png.length);
        String svg = Files.readString(dir.resolve("reward_vs_kl.svg"));
        assertTrue(svg.contains("<svg") && svg.contains("</svg>"));

        String html = Files.readString(dir.resolve("report.html"));
        assertTrue(html.contains("<td class=\"best\">71.0% [66.0, 76.0] ★</td>"), "best dpo cell highlighted");
        assertTrue(html.contains("<td class=\"best\">58.0% [53.0, 63.0] ★</td>"), "best ipo cell highlighted");
        assertEquals(3, html.split("<svg", -1).length - 1, "the three plots are inline");
        assertTrue(html.contains("# &lt;exact&gt;"), "the configuration is shown verbatim (escaped)");
        assertTrue(html.contains("Winner: dpo"));
    }

    @Test
    void withoutAJudgeTheTableRanksByPreferenceAccuracyAndHasNoFrontier(@TempDir Path dir) throws Exception {
        List<Sweep.CellResult> cells = new ArrayList<>();
        for (Sweep.CellResult c : result().cells()) {
            Map<String, Double> m = new LinkedHashMap<>();
            m.put("pref_accuracy", c.metric("pref_accuracy"));
            m.put("pref_margin", 0.1);
            cells.add(new Sweep.CellResult(c.cell(), m, 2, true));
        }
        Sweep.Result r = new Sweep.Result(cells, "pref_accuracy", dir);
        List<Path> files = Report.write(r, "no judge", "", null, dir);
        assertFalse(files.contains(dir.resolve("reward_vs_kl.png")));
        assertTrue(files.contains(dir.resolve("metric_vs_beta.png")));
        String md = Files.readString(dir.resolve("results.md"));
        assertTrue(md.contains("| dpo | 60.0% | 80.0% | **90.0%** ★ |"), md);
        assertTrue(md.contains("(reused)"));
        assertTrue(Sweep.summary(r).contains("dpo          β = 0.9   90.0%"), Sweep.summary(r));
    }

    @Test
    void extraGridFieldsBecomeColumnsAndRowLabels(@TempDir Path dir) throws Exception {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("loss_type", "dpo");
        v.put("learning_rate", 1e-3);
        v.put("beta", 0.1);
        Sweep.CellResult c = new Sweep.CellResult(new Sweep.Cell(v), Map.of("pref_accuracy", 0.5), 1, false);
        Sweep.Result r = new Sweep.Result(List.of(c), "pref_accuracy", dir);
        Report.write(r, "t", "", null, dir);
        List<String> csv = Files.readAllLines(dir.resolve("results.csv"));
        assertEquals("algorithm,beta,learning_rate,pref_accuracy,seconds,seed", csv.get(0));
        assertEquals("dpo,0.1,0.001,0.5,1.0,0", csv.get(1));
        assertTrue(Files.readString(dir.resolve("results.md")).contains("| dpo learning_rate=0.001 | **50.0%** ★ |"));
    }
}
