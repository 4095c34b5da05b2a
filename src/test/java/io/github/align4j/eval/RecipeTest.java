package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.train.TrainConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The GPU recipes parse and dry-run here (their models and data are absent), and bad sweep files fail clearly. */
class RecipeTest {
    static Stream<Path> recipes() throws Exception {
        try (Stream<Path> s = Files.list(Path.of("recipes/pref-align-scan"))) {
            List<Path> l = s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
            assertEquals(4, l.size(), "the Zephyr and OpenHermes scans, each full and LoRA (one 80 GB GPU per cell)");
            return l.stream();
        }
    }

    @ParameterizedTest
    @MethodSource("recipes")
    void recipeDryRuns(Path recipe) {
        SweepConfig c = SweepConfig.load(recipe);
        assertEquals(List.of("dpo", "ipo", "kto_pair"), c.grid().get("loss_type"));
        assertEquals(List.of(0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), c.grid().get("beta"));
        TrainConfig b = c.base();
        boolean lora = recipe.getFileName().toString().endsWith("-lora.yaml");
        assertEquals(lora ? 5e-6 : 5e-7, b.optimization().learningRate());
        assertEquals(lora, b.lora().enabled());
        assertEquals("cosine", b.optimization().scheduler().key());
        assertEquals(0.1, b.optimization().warmupRatio());
        assertEquals(1.0, b.optimization().numTrainEpochs());
        assertEquals(8, b.optimization().batchSize());
        assertEquals(2, b.optimization().gradientAccumulationSteps());
        assertTrue(b.reference().precompute());
        String plan = c.plan();
        assertTrue(plan.contains("30 cells (loss_type 3 × beta 10)"), plan);
        assertTrue(plan.contains("model folder not found (expected on a GPU machine)"), plan);
        assertTrue(plan.contains("ignored    bf16"), plan);
        assertTrue(plan.contains("kto_pair-beta0.9"), plan);
        assertTrue(plan.matches("(?s).*\\d[\\d,]* optimizer steps in total.*"), plan);
        assertTrue(plan.contains("0 of 30 cells finished"), plan);
    }

    @ParameterizedTest
    @MethodSource("recipes")
    void commandLineDryRunExitsZero(Path recipe) {
        java.io.StringWriter out = new java.io.StringWriter();
        picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
        cl.setOut(new java.io.PrintWriter(out));
        int rc = cl.execute("sweep", "--config", recipe.toString(), "--dry-run");
        assertEquals(0, rc, out.toString());
        assertTrue(out.toString().contains("model folder not found (expected on a GPU machine)"), out.toString());
        assertTrue(out.toString().contains("dry run: nothing was trained."), out.toString());
    }

    @Test
    void zephyrPlanCountsTheBlogsSteps() {
        // 61,135 pairs / (8 × 2) = 3,821 steps per cell, 30 cells
        String plan = SweepConfig.load(Path.of("recipes/pref-align-scan/zephyr-ultrafeedback.yaml")).plan();
        assertTrue(plan.contains("dpo-beta0.01                 3821 steps"), plan);
        assertTrue(plan.contains("114,630 optimizer steps in total"), plan);
    }

    @Test
    void dryRunReportsFinishedCells(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("s.yaml");
        Files.writeString(f, "model_name_or_path: " + dir.resolve("nomodel") + "\ntrain_file: " + dir.resolve("t.jsonl")
                + "\noutput_dir: " + dir.resolve("out") + "\nmax_steps: 7\ngrid:\n  loss_type: [dpo, kto]\n  beta: [0.1]\n");
        Files.createDirectories(dir.resolve("out/cells/dpo-beta0.1"));
        Files.writeString(dir.resolve("out/cells/dpo-beta0.1/result.json"), "{}");
        String plan = SweepConfig.load(f).plan();
        assertTrue(plan.contains("dpo-beta0.1                  7 steps  finished (will be reused)"), plan);
        assertTrue(plan.contains("kto-beta0.1                  7 steps  to run"), plan);
        assertTrue(plan.contains("1 of 2 cells finished"), plan);
        assertTrue(plan.contains("14 optimizer steps in total"), plan);
        assertTrue(plan.contains("t.jsonl: not found (expected on a GPU machine)"), plan);
    }

    @Test
    void badFilesNameTheFileAndTheKey(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("bad.yaml");
        Files.writeString(f, "output_dir: x\nlearnig_rate: 1e-6\ngrid:\n  beta: [0.1]\n");
        Align4jException e = assertThrows(Align4jException.class, () -> SweepConfig.load(f));
        assertTrue(e.getMessage().startsWith(f + ":2: unknown key 'learnig_rate'"), e.getMessage()); // file:line
        assertTrue(e.getMessage().contains("did you mean 'learning_rate'"), e.getMessage());

        Files.writeString(f, "output_dir: x\ngrid:\n  beta: [0.1, zero]\n");
        e = assertThrows(Align4jException.class, () -> SweepConfig.load(f));
        assertTrue(e.getMessage().contains(f + ": grid: key 'beta' must be a number, got 'zero'"), e.getMessage());

        Files.writeString(f, "output_dir: x\ngrid:\n  loss_type: [dpo, dpoo]\n");
        e = assertThrows(Align4jException.class, () -> SweepConfig.load(f));
        assertTrue(e.getMessage().contains("loss_type 'dpoo'"), e.getMessage());

        Files.writeString(f, "output_dir: x\nbeta: 0.1\n");
        e = assertThrows(Align4jException.class, () -> SweepConfig.load(f));
        assertTrue(e.getMessage().contains("no 'grid:'"), e.getMessage());

        Files.writeString(f, "grid:\n  beta: [0.1]\n");
        e = assertThrows(Align4jException.class, () -> SweepConfig.load(f));
        assertTrue(e.getMessage().contains("no output_dir"), e.getMessage());

        Files.writeString(f, "output_dir: x\njudge: review-sentiment\ngrid:\n  beta: [0.1]\n");
        assertEquals("review-sentiment", SweepConfig.load(f).judge());
        Files.writeString(f, "output_dir: x\njudge: nosuchjudge\ngrid:\n  beta: [0.1]\n");
        e = assertThrows(Align4jException.class, () -> SweepConfig.load(f));
        assertTrue(e.getMessage().contains("nosuchjudge"), e.getMessage());
    }
}
