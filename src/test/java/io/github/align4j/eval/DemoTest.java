package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.internal.Offline;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo end to end at a test-only size (the real --quick runs in CI as a smoke test): every
 * output file, the table's columns, the headline, and a rerun that reuses the SFT model and cells.
 */
class DemoTest {
    static {
        Offline.ensure();
    }

    static Demo.Options tiny(Path out) {
        return new Demo.Options(out, List.of("dpo", "kto"), List.of(0.5), 3, 1, 32, 1, 4, 150, 4, 4, 8, 1e-3, 2, 2, 2);
    }

    @Test
    void demoWritesTheTableThePlotsAndTheHeadline(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("demo");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        Demo.Outcome o = Demo.run(tiny(out), new PrintStream(buf, true, StandardCharsets.UTF_8));
        String console = buf.toString(StandardCharsets.UTF_8);
        for (String f : List.of("results.csv", "results.md", "report.html", "metric_vs_beta.png", "metric_vs_beta.svg",
                "reward_vs_kl.png", "reward_vs_kl.svg", "sft/config.json", "sft/model.safetensors", "sft/tokenizer.json",
                "results_summary.csv", "cells/dpo-beta0.5/seed-3/result.json", "cells/dpo-beta0.5/seed-4/result.json",
                "cells/kto-beta0.5/seed-3/result.json", "cells/kto-beta0.5/seed-4/result.json")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        List<String> csv = Files.readAllLines(out.resolve("results.csv"));
        assertEquals(5, csv.size()); // 2 cells × 2 seeds
        List<String> cols = List.of(csv.get(0).split(","));
        for (String c : List.of("algorithm", "beta", "win_rate", "win_rate_low", "win_rate_high", "mean_reward",
                "sft_mean_reward", "kl", "pref_accuracy")) {
            assertTrue(cols.contains(c), "results.csv has " + c + ": " + cols);
        }
        assertEquals(List.of("algorithm", "beta"), cols.subList(0, 2));
        assertEquals("seed", cols.get(cols.size() - 1));
        assertTrue(csv.get(1).startsWith("dpo,0.5,") && csv.get(1).endsWith(",3") && csv.get(2).startsWith("dpo,0.5,")
                && csv.get(2).endsWith(",4") && csv.get(3).startsWith("kto,0.5,"), csv.toString());
        // the two seeds are two trajectories: they differ, and the summary is their mean
        List<Sweep.CellResult> runs = o.result().cells();
        assertEquals(List.of(3L, 4L, 3L, 4L), runs.stream().map(Sweep.CellResult::seed).toList());
        assertTrue(runs.get(0).metric("train_loss") != runs.get(1).metric("train_loss"), "seeds give other trajectories");
        CellSummary dpo = o.result().summaries().get(0);
        assertEquals((runs.get(0).metric("win_rate") + runs.get(1).metric("win_rate")) / 2, dpo.mean("win_rate"), 1e-12);
        List<String> summary = Files.readAllLines(out.resolve("results_summary.csv"));
        assertEquals(3, summary.size());
        assertTrue(summary.get(0).startsWith("algorithm,beta,seeds,win_rate_mean,win_rate_sd,win_rate_min,win_rate_max"),
                summary.get(0));
        assertTrue(console.contains("| algorithm | β = 0.5 |"), console);
        assertTrue(console.contains("Best β per algorithm by win rate against the SFT model (mean ± sd over 2 seeds):"),
                console);
        assertTrue(console.contains("Highest mean: "), console);
        assertTrue(console.contains("[2/5] preference data:"), console);
        assertTrue(console.contains("[###") && console.contains("100% "), "progress bar: " + console);
        assertTrue(o.headline().contains(o.allBeatSft() ? "Every algorithm beats the SFT model at its best β"
                : "Not every algorithm beats the SFT model"), o.headline());
        String html = Files.readString(out.resolve("report.html"));
        assertTrue(html.contains("review-sentiment") && html.contains("Highest mean: "), "settings and headline in the report");

        // a rerun reuses the SFT model and every finished cell
        ByteArrayOutputStream again = new ByteArrayOutputStream();
        Demo.Outcome o2 = Demo.run(tiny(out), new PrintStream(again, true, StandardCharsets.UTF_8));
        String second = again.toString(StandardCharsets.UTF_8);
        assertTrue(second.contains("reusing the SFT model"), second);
        assertTrue(o2.result().cells().stream().allMatch(Sweep.CellResult::reused), second);
        assertEquals(o.result().cells().get(0).metrics(), o2.result().cells().get(0).metrics());
    }

    @Test
    void headlineSaysWhenAnAlgorithmDoesNotBeatSft() {
        Sweep.Result r = new Sweep.Result(List.of(ReportTest.cell("dpo", 0.1, 0.70, 1, 0.8),
                ReportTest.cell("ipo", 0.1, 0.52, 1, 0.6), ReportTest.cell("kto", 0.1, 0.45, 1, 0.5)), "win_rate", null);
        Demo.Headline h = Demo.headline(r);
        assertTrue(!h.allBeat());
        assertTrue(h.text().startsWith("Highest cell: dpo at β = 0.1, win rate 70.0% [65.0, 75.0]"), h.text());
        assertTrue(h.text().contains("One seed: whether it beats the other algorithms' best cells is not tested"), h.text());
        assertTrue(h.text().contains("dpo        β = 0.1   70.0% [65.0, 75.0]"), h.text());
        assertTrue(h.text().contains("ipo        β = 0.1   52.0% [47.0, 57.0]") && h.text().contains("the interval includes 50%"),
                h.text());
        assertTrue(h.text().contains("does NOT beat the SFT model"), h.text());
        assertTrue(h.text().contains("Not every algorithm beats the SFT model at its best β: kto does not"), h.text());
        Demo.Headline all = Demo.headline(new Sweep.Result(List.of(ReportTest.cell("dpo", 0.1, 0.70, 1, 0.8),
                ReportTest.cell("ipo", 0.1, 0.52, 1, 0.6)), "win_rate", null));
        assertTrue(all.allBeat());
        assertTrue(all.text().contains("for ipo the 95% interval includes 50%"), all.text());
    }

    static Sweep.CellResult seeded(String loss, double beta, long seed, double win) {
        Sweep.CellResult c = ReportTest.cell(loss, beta, win, 1, 0.8);
        return new Sweep.CellResult(c.cell(), c.metrics(), 1, false, seed);
    }

    @Test
    void overSeedsOnlyDifferencesEverySeedAgreesOnAreCalled() {
        // dpo beats ipo on both seeds; kto beats dpo on seed 1 only; its mean is above 50% but seed 2 is below
        Sweep.Result r = new Sweep.Result(List.of(seeded("dpo", 0.1, 1, 0.70), seeded("dpo", 0.1, 2, 0.66),
                seeded("ipo", 0.1, 1, 0.60), seeded("ipo", 0.1, 2, 0.62), seeded("kto", 0.1, 1, 0.72),
                seeded("kto", 0.1, 2, 0.40)), "win_rate", null);
        Demo.Headline h = Demo.headline(r);
        assertTrue(h.text().startsWith("Highest mean: dpo at β = 0.1, win rate 68.0% ± 2.8 [66.0, 70.0]"), h.text());
        assertTrue(h.text().contains("Not distinguishable from kto (β = 0.1): the seeds disagree."), h.text());
        assertTrue(h.text().contains("ipo        β = 0.1   61.0% ± 1.4 [60.0, 62.0]"), h.text());
        assertTrue(h.text().contains("beats SFT on every seed"), h.text());
        assertTrue(h.text().contains("above 50% on the mean, not on every seed"), h.text());
        assertTrue(h.allBeat());
        Sweep.Result clear = new Sweep.Result(List.of(seeded("dpo", 0.1, 1, 0.70), seeded("dpo", 0.1, 2, 0.66),
                seeded("ipo", 0.1, 1, 0.60), seeded("ipo", 0.1, 2, 0.62)), "win_rate", null);
        assertTrue(Demo.headline(clear).text().contains("It beats every other algorithm's best cell on all 2 seeds."));
    }

    @Test
    void demoCommandIsRegistered() {
        java.io.StringWriter out = new java.io.StringWriter();
        picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
        cl.setOut(new java.io.PrintWriter(out));
        assertEquals(0, cl.execute("demo", "--help"));
        assertTrue(out.toString().contains("--quick"), out.toString());
        assertEquals(0, cl.execute("sweep", "--help"));
        assertTrue(out.toString().contains("--dry-run"), out.toString());
    }
}
