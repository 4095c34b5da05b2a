package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.TextTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A 2 × 2 grid on a tiny model: report files, best-cell marks, and resumption without retraining. */
class SweepTest {
    static {
        Offline.ensure();
    }

    static Map<String, List<?>> grid() {
        Map<String, List<?>> g = new LinkedHashMap<>();
        g.put("loss_type", List.of("dpo", "kto"));
        g.put("beta", List.of(0.1, 0.5));
        return g;
    }

    /** Counts optimizer steps actually taken (a reused cell takes none). */
    static final class Counter implements Sweep.Listener {
        final AtomicInteger steps = new AtomicInteger();
        final List<String> trained = new ArrayList<>();

        @Override
        public void step(Sweep.Cell cell, long step, long total) {
            if (steps.getAndIncrement() >= 0 && step == 1) {
                trained.add(cell.id());
            }
        }
    }

    @Test
    void gridWritesTheReportMarksTheBestCellsAndResumes(@TempDir Path dir) throws Exception {
        Path model = SweepFixture.model(dir.resolve("model"));
        Path out = dir.resolve("out");
        try (TextTokenizer tok = TextTokenizer.load(model, null)) {
            List<TokenizedPair> train = SweepFixture.pairs(tok, 24, 1);
            List<TokenizedPair> eval = SweepFixture.pairs(tok, 8, 2);
            Counter first = new Counter();
            Sweep.Result r = sweep(model, out, tok, train, eval, first).run();
            assertEquals(4, r.cells().size());
            assertEquals(List.of("dpo-beta0.1", "dpo-beta0.5", "kto-beta0.1", "kto-beta0.5"), first.trained);
            assertEquals(12, first.steps.get());
            assertEquals("win_rate", r.primaryMetric());
            for (Sweep.CellResult c : r.cells()) {
                assertFalse(c.reused());
                for (String m : List.of("win_rate", "win_rate_low", "win_rate_high", "mean_reward", "sft_mean_reward", "kl",
                        "pref_accuracy")) {
                    assertTrue(Double.isFinite(c.metric(m)), c.cell().id() + " has " + m + ": " + c.metrics());
                }
                assertTrue(c.metric("win_rate_low") <= c.metric("win_rate") && c.metric("win_rate") <= c.metric("win_rate_high"));
                assertEquals(3.0, c.metric("steps"));
                assertTrue(Files.isRegularFile(out.resolve("cells").resolve(c.cell().id()).resolve("result.json")));
                assertTrue(Files.isRegularFile(out.resolve("cells").resolve(c.cell().id()).resolve("final/model.safetensors")));
            }
            // one reference pass for the grid: one cache file for the paired cells, one for KTO (its KL pairs differ)
            try (var s = Files.list(out.resolve("cache"))) {
                assertEquals(2, s.filter(p -> p.getFileName().toString().endsWith(".bin")).count());
            }

            List<Path> files = Report.write(r, "test sweep", "grid: test", Sweep.summary(r), out);
            for (String f : List.of("results.csv", "results.md", "report.html", "metric_vs_beta.png", "metric_vs_beta.svg",
                    "reward_vs_kl.png", "reward_vs_kl.svg")) {
                assertTrue(files.contains(out.resolve(f)), f);
                assertTrue(Files.size(out.resolve(f)) > 0, f);
            }
            List<String> csv = Files.readAllLines(out.resolve("results.csv"));
            assertTrue(csv.get(0).startsWith("algorithm,beta,win_rate,win_rate_low,win_rate_high,mean_reward,"), csv.get(0));
            assertEquals(5, csv.size());
            String md = Files.readString(out.resolve("results.md"));
            Map<String, CellSummary> best = r.bestPerRow();
            assertEquals(2, best.size());
            for (String line : md.split("\n")) {
                if (line.startsWith("| dpo |") || line.startsWith("| kto |")) {
                    assertEquals(1, line.split("★", -1).length - 1, "one best cell per row: " + line);
                    String row = line.substring(2, line.indexOf(" |", 2));
                    CellSummary b = best.get(row);
                    for (Sweep.CellResult c : r.cells()) {
                        if (c.cell().row().equals(row)) {
                            assertTrue(c.metric("win_rate") <= b.mean("win_rate"));
                        }
                    }
                    String[] cols = line.split("\\|");
                    int col = b.cell().beta() == 0.1 ? 2 : 3;
                    assertTrue(cols[col].contains("★"), "the best β is marked: " + line);
                }
            }

            // resumption: a rerun trains nothing and leaves every result file as it was
            Map<Path, FileTime> times = new LinkedHashMap<>();
            for (Sweep.CellResult c : r.cells()) {
                Path f = out.resolve("cells").resolve(c.cell().id()).resolve("result.json");
                times.put(f, Files.getLastModifiedTime(f));
            }
            Counter second = new Counter();
            Sweep.Result again = sweep(model, out, tok, train, eval, second).run();
            assertEquals(0, second.steps.get());
            assertTrue(again.cells().stream().allMatch(Sweep.CellResult::reused));
            for (int i = 0; i < 4; i++) {
                assertEquals(r.cells().get(i).metrics(), again.cells().get(i).metrics());
            }
            for (Map.Entry<Path, FileTime> e : times.entrySet()) {
                assertEquals(e.getValue(), Files.getLastModifiedTime(e.getKey()));
            }

            // an interrupted cell (no result.json, killed before its first checkpoint) is the only one trained again
            // (SweepShardTest: one killed after a checkpoint continues from it)
            Files.delete(out.resolve("cells/kto-beta0.1/result.json"));
            io.github.align4j.internal.FileTrees.deleteTree(out.resolve("cells/kto-beta0.1/final"));
            Counter third = new Counter();
            Sweep.Result resumed = sweep(model, out, tok, train, eval, third).run();
            assertEquals(List.of("kto-beta0.1"), third.trained);
            assertEquals(3, third.steps.get());
            assertEquals(3, resumed.cells().stream().filter(Sweep.CellResult::reused).count());
        }
    }

    @Test
    void aCellWhoseSettingsChangedIsTrainedAgain(@TempDir Path dir) throws Exception {
        Path model = SweepFixture.model(dir.resolve("model"));
        Path out = dir.resolve("out");
        try (TextTokenizer tok = TextTokenizer.load(model, null)) {
            List<TokenizedPair> train = SweepFixture.pairs(tok, 8, 1);
            Map<String, List<?>> g = Map.of("beta", List.of(0.2));
            Sweep.builder().base(SweepFixture.config()).grid(g).model(model).trainPairs(train).output(out).build().run();
            Counter c = new Counter();
            Sweep.Result r = Sweep.builder().base(SweepFixture.config().with("learning_rate", 2e-3, "test")).grid(g)
                    .model(model).trainPairs(train).output(out).listener(c).build().run();
            assertEquals(List.of("dpo-beta0.2"), c.trained);
            assertFalse(r.cells().get(0).reused());
            assertEquals("pref_accuracy", r.primaryMetric());
        }
    }

    @Test
    void gridValuesAreCheckedBeforeAnythingRuns() {
        var base = SweepFixture.config();
        Align4jException e = assertThrows(Align4jException.class,
                () -> SweepGrid.expand(Map.of("beta", List.of(0.1, -1.0)), base));
        assertTrue(e.getMessage().contains("beta") && e.getMessage().contains("> 0"), e.getMessage());
        e = assertThrows(Align4jException.class, () -> SweepGrid.expand(Map.of("betta", List.of(0.1)), base));
        assertTrue(e.getMessage().contains("betta") && e.getMessage().contains("beta"), e.getMessage());
        assertEquals(6, SweepGrid.expand(new LinkedHashMap<>(Map.of("loss_type", List.of("dpo", "ipo", "kto_pair"))), base).size()
                * 2);
        List<Sweep.Cell> cells = SweepGrid.expand(new LinkedHashMap<>(Map.of("learning_rate", List.of(1e-3, 5e-4))), base);
        assertEquals("dpo-learning_rate=0.001", cells.get(0).id());
        assertEquals("dpo learning_rate=0.001", cells.get(0).row());
    }

    /** A cell is a run of the library's: use_peft, lora_r and torch_dtype in the grid train a LoRA adapter on a half base. */
    @Test
    void aCellHonoursLoraAndPrecisionKeys(@TempDir Path dir) throws Exception {
        Path model = SweepFixture.model(dir.resolve("model"));
        Path out = dir.resolve("out");
        try (TextTokenizer tok = TextTokenizer.load(model, null)) {
            Map<String, List<?>> g = new LinkedHashMap<>();
            g.put("use_peft", List.of(true));
            g.put("lora_r", List.of(4));
            g.put("torch_dtype", List.of("float16"));
            Sweep.Result r = Sweep.builder().base(SweepFixture.config()).grid(g).model(model)
                    .trainPairs(SweepFixture.pairs(tok, 24, 1)).evalPairs(SweepFixture.pairs(tok, 8, 2)).output(out).build().run();
            Path cell = out.resolve("cells").resolve(r.cells().get(0).cell().id());
            assertTrue(Files.isRegularFile(cell.resolve("final/adapter_model.safetensors")), "the cell trained an adapter");
            assertFalse(Files.exists(cell.resolve("final/model.safetensors")), "and only the adapter");
            assertEquals(4, new com.fasterxml.jackson.databind.ObjectMapper().readTree(cell.resolve("final/adapter_config.json").toFile())
                    .path("r").asInt());
            assertEquals(3.0, r.cells().get(0).metric("steps"));
        }
    }

    static Sweep sweep(Path model, Path out, TextTokenizer tok, List<TokenizedPair> train, List<TokenizedPair> eval,
            Sweep.Listener l) {
        return Sweep.builder().base(SweepFixture.config()).grid(grid()).model(model).trainPairs(train).evalPairs(eval)
                .judge(ReviewJudge.INSTANCE, SweepFixture.heldOutPrompts(3), new SamplingOptions(8, 1.0, 1.0, 0, 7, 2), tok)
                .output(out).listener(l).build();
    }
}
