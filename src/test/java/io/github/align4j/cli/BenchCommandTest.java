package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code align4j bench} at a tiny size: the smoke test CI runs. No timing is asserted (CI machines
 * are noisy); the output's keys, the sanity of its values and flat native memory are.
 */
class BenchCommandTest {
    @TempDir
    static Path shared;

    static Path model;

    private static int threadsBefore;

    @BeforeAll
    static void makeModel() throws Exception {
        ai.djl.engine.Engine.getEngine("PyTorch");
        threadsBefore = ai.djl.pytorch.jni.JniUtils.getNumThreads();
        Path cfg = shared.resolve("cfg.json");
        Files.writeString(cfg, "{\"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                + "\"num_key_value_heads\": 2, \"intermediate_size\": 64}");
        model = shared.resolve("model");
        Cli.Result r = Cli.run("init", "--model-type", "llama", "--config", cfg.toString(), "--out", model.toString(), "--seed", "3");
        assertEquals(0, r.exit(), r.toString());
    }

    /** bench sets libtorch's thread count in this JVM, as the command line should; the tests after this class keep theirs. */
    @AfterAll
    static void restoreThreads() {
        ai.djl.pytorch.jni.JniUtils.setNumThreads(threadsBefore);
    }

    static JsonNode json(Cli.Result r) throws Exception {
        assertEquals(0, r.exit(), r.toString());
        return new ObjectMapper().readTree(r.out());
    }

    @Test
    void jsonHasTheFiguresTheIssueAsksFor() throws Exception {
        JsonNode j = json(Cli.run("bench", "--model", model.toString(), "--pairs", "2", "--prompt", "6", "--completion", "5",
                "--steps", "12", "--warmup", "2", "--json"));
        for (String k : List.of("median_step_s", "min_step_s", "max_step_s", "tokens_per_second", "peak_rss_mb",
                "live_arrays_after_warmup", "live_arrays_end", "padding_fraction", "threads", "parameters", "estimated_peak_mb",
                "estimate_mb", "training")) {
            assertTrue(j.has(k), "bench --json has " + k + ": " + j);
        }
        double median = j.get("median_step_s").asDouble();
        assertTrue(median > 0 && j.get("min_step_s").asDouble() <= median && median <= j.get("max_step_s").asDouble(), j.toString());
        assertEquals(12, j.get("steps").asInt());
        assertEquals(Runtime.getRuntime().availableProcessors(), j.get("threads").asInt(), "threads default to the cores");
        // 2 pairs × 2 completions × (6 + 5) tokens per step
        assertEquals(44 / median, j.get("tokens_per_second").asDouble(), 1e-6 * j.get("tokens_per_second").asDouble());
        assertTrue(j.get("peak_rss_mb").asDouble() > 10, j.toString());
        // which attention ran, and why: 11-token rows on the CPU stay materialized (the suite's environment sets no override)
        String attention = System.getProperty("align4j.attention") == null && System.getenv("ALIGN4J_ATTENTION") == null
                ? "materialized (auto: 11-token rows)" : j.get("training").asText().replaceFirst(".*attention: ", "")
                        .replaceFirst("; huge pages: .*", "");
        // and whether libtorch's large blocks get huge pages (this process's GLIBC_TUNABLES and the kernel's mode)
        assertEquals("full fine-tuning; attention: " + attention + "; huge pages: "
                + io.github.align4j.train.internal.HugePages.describe(), j.get("training").asText());
        double gflop = 0;
        for (String k : List.of("forward", "reference", "recompute", "input_gradients", "weight_gradients")) {
            gflop += j.get("gflop_per_step").get(k).asDouble();
        }
        assertTrue(gflop > 0 && j.get("gflop_per_step").get("recompute").asDouble() == 0, j.toString());
        assertEquals(gflop / median, j.get("achieved_gflops").asDouble(), 1e-9 * gflop / median, "FLOPs of a median step: " + j);
        assertTrue(j.get("matmul_peak_gflops").asDouble() > 0, j.toString());
        assertEquals(j.get("achieved_gflops").asDouble() / j.get("matmul_peak_gflops").asDouble(),
                j.get("share_of_peak").asDouble(), 1e-9, j.toString());
        double terms = 0;
        for (JsonNode t : j.get("estimate_mb")) {
            terms += t.asDouble();
        }
        assertEquals(j.get("estimated_peak_mb").asDouble(), terms, 10, "the planner's terms add up to its estimate: " + j);
        assertEquals(0.0, j.get("padding_fraction").asDouble(), 0.0, "random ids of one shape need no padding");
        assertEquals(j.get("live_arrays_after_warmup").asInt(), j.get("live_arrays_end").asInt(),
                "native arrays flat from the warm-up to the last step: " + j);
    }

    @Test
    void precomputedReferenceAndTheTable() throws Exception {
        JsonNode j = json(Cli.run("bench", "--model", model.toString(), "--pairs", "2", "--prompt", "4", "--completion", "4",
                "--steps", "3", "--precompute-ref", "--cache-dir", shared.resolve("cache").toString(), "--json"));
        assertTrue(j.get("precompute_ref").asBoolean());
        assertTrue(j.get("median_step_s").asDouble() > 0);
        Cli.Result table = Cli.run("bench", "--model", model.toString(), "--pairs", "1", "--prompt", "4", "--completion", "4",
                "--steps", "2");
        assertEquals(0, table.exit(), table.toString());
        for (String s : List.of("step time", "median", "policy tokens/s", "GFLOP/s", "matmul", "peak RSS", "memory plan",
                "live arrays", "padding")) {
            assertTrue(table.out().contains(s), table.out());
        }
    }

    /**
     * On real data (tokenized with Phi-3's tokenizer, TRL's default 1024 / 512 limits) the padding
     * fraction is reported, and length grouping at least halves it.
     */
    @Test
    void realDataPadding() throws Exception {
        String data = TestData.shared("data/preference/llamafactory_dpo_en_demo.json").toString();
        String tokenizer = TestData.shared("data/tokenizers/phi-3-mini").toString();
        double[] padding = new double[2];
        for (int g = 0; g < 2; g++) {
            JsonNode j = json(Cli.run("bench", "--model", model.toString(), "--data", data, "--tokenizer", tokenizer,
                    "--pairs", "8", "--steps", "1", "--group-by-length",
                    g == 1 ? "true" : "false", "--cache-dir", shared.resolve("cache").toString(), "--json"));
            assertTrue(j.get("real_data").asBoolean());
            assertEquals(300, j.get("examples").asInt(), j.toString());
            padding[g] = j.get("padding_fraction").asDouble();
        }
        assertTrue(padding[0] > 0.05, "random batches of real data are padded: " + padding[0]);
        assertTrue(padding[1] <= padding[0] / 2, "grouping by length at least halves padding: " + padding[0] + " → " + padding[1]);
    }

    @Test
    void refusesBadArguments() {
        Cli.Result r = Cli.run("bench", "--model", model.toString(), "--pairs", "0");
        assertEquals(2, r.exit(), r.toString());
        Cli.Result dtype = Cli.run("bench", "--model", model.toString(), "--torch-dtype", "float64");
        assertEquals(2, dtype.exit(), dtype.toString());
        assertTrue(dtype.err().contains("--torch-dtype"), dtype.toString());
        Cli.Result missing = Cli.run("bench", "--model", shared.resolve("nope").toString());
        assertEquals(2, missing.exit(), missing.toString());
    }
}
