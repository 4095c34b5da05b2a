package io.github.align4j.cli;

import static io.github.align4j.cli.InitCommandTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.TestData;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.TrainConfig;
import java.util.ArrayList;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code logprobs --adapter} and {@code merge} against the library: a LoRA adapter with non-zero B
 * (so it changes the model) is saved, then scored through the command line from its files, and
 * merged into a full checkpoint that scores the same without it.
 */
class LoraCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static final String[][] ROWS = {
        {"Question: What is the capital of France?\nAnswer:", " Paris.", " I do not know."},
        {"<|im_start|>user\nWrite a short poem about the sea.<|im_end|>\n<|im_start|>assistant\n",
            "The sea is grey, the sea is wide.", "No."},
        {"Question: How many days are there in a week?\nAnswer:", " There are seven days in a week.", " Ten."},
        {"The sun comes up over the hills.", " A good soup does not need to be clever; it needs time.", " Yes."},
    };

    @TempDir
    Path tmp;

    /** A base, and an adapter on it (all-linear, r 4, B random) saved in {@code adapter}: the model with it, open. */
    private static CausalLM baseAndAdapter(String type, Map<String, ?> config, Path base, Path adapter, long seed) {
        CausalLM.init(type, config, null, base, seed);
        CausalLM lm = CausalLM.load(base, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32));
        lm.addAdapters(new LoraConfig(4, 8, 0, List.of(LoraConfig.ALL_LINEAR), false), seed);
        Random rnd = new Random(seed + 1);
        for (Map.Entry<String, NDArray> e : lm.trainableParameters().entrySet()) {
            if (e.getKey().endsWith("lora_B.weight")) {
                float[] v = new float[Math.toIntExact(e.getValue().size())];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (0.1 * rnd.nextGaussian());
                }
                e.getValue().set(v);
            }
        }
        lm.saveAdapter(adapter);
        return lm;
    }

    private Path data() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (String[] r : ROWS) {
            sb.append(JSON.writeValueAsString(Map.of("prompt", r[0], "chosen", r[1], "rejected", r[2]))).append('\n');
        }
        Path f = tmp.resolve("pairs.jsonl");
        Files.writeString(f, sb.toString());
        return f;
    }

    private List<JsonNode> logprobs(Path data, String... modelArgs) throws Exception {
        Path out = tmp.resolve("lp-" + System.nanoTime() + ".jsonl");
        String[] args = new String[modelArgs.length + 9];
        System.arraycopy(modelArgs, 0, args, 1, modelArgs.length);
        args[0] = "logprobs";
        System.arraycopy(new String[] {"--data", data.toString(), "--out", out.toString(), "--device", "cpu",
            "--cache-dir", tmp.resolve("cache").toString()}, 0, args, modelArgs.length + 1, 8);
        Cli.Result r = Cli.run(args);
        assertEquals(0, r.exit(), r.toString());
        return LogprobsCommandTest.readLines(out);
    }

    /** logprobs --adapter equals the library's scoring with the adapter; the merged checkpoint scores the same. */
    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void adapterAndMergedCheckpointScoreAsTheLibrary(String type) throws Exception {
        Path base = tmp.resolve("base");
        Path adapter = tmp.resolve("adapter");
        Path data = data();
        double[][] want = new double[ROWS.length][2];
        try (CausalLM lm = baseAndAdapter(type, Map.of(), base, adapter, 5);
                TextTokenizer tok = TextTokenizer.load(base, null)) {
            assertEquals((type.equals("gpt2") ? 4 : 7) * 2, lm.adaptedModules().size(), "all-linear, 2 layers");
            for (int i = 0; i < ROWS.length; i++) {
                want[i][0] = LogprobsCommandTest.direct(lm, tok, ROWS[i][0], ROWS[i][1])[0];
                want[i][1] = LogprobsCommandTest.direct(lm, tok, ROWS[i][0], ROWS[i][2])[0];
            }
        }
        assertTrue(Files.isRegularFile(adapter.resolve("adapter_config.json")));
        List<JsonNode> plain = logprobs(data, "--model", base.toString());
        List<JsonNode> adapted = logprobs(data, "--model", base.toString(), "--adapter", adapter.toString());
        double moved = 0;
        for (int i = 0; i < ROWS.length; i++) {
            LogprobsCommandTest.close(want[i][0], adapted.get(i).get("chosen_logps").asDouble(), type + " row " + i + " chosen");
            LogprobsCommandTest.close(want[i][1], adapted.get(i).get("rejected_logps").asDouble(), type + " row " + i + " rejected");
            moved = Math.max(moved, Math.abs(want[i][0] - plain.get(i).get("chosen_logps").asDouble()));
        }
        assertTrue(moved > 0.01, "the adapter changes the scores (max |Δ| " + moved + ")");

        Path merged = tmp.resolve("merged");
        Cli.Result r = Cli.run("merge", "--model", base.toString(), "--adapter", adapter.toString(), "--out", merged.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().startsWith("merged " + adapter + " (r=4, lora_alpha=8, "), r.out());
        assertTrue(Files.isRegularFile(merged.resolve("tokenizer.json")), "tokenizer files travel with the merged model");
        assertFalse(Files.exists(merged.resolve("adapter_config.json")));
        assertEquals("float32", JSON.readTree(merged.resolve("config.json").toFile()).get("torch_dtype").asText());
        List<JsonNode> m = logprobs(data, "--model", merged.toString());
        for (int i = 0; i < ROWS.length; i++) {
            LogprobsCommandTest.close(want[i][0], m.get(i).get("chosen_logps").asDouble(), type + " merged row " + i + " chosen");
            LogprobsCommandTest.close(want[i][1], m.get(i).get("rejected_logps").asDouble(), type + " merged row " + i + " rejected");
        }

        // --dtype float16: half the file, scores within fp16 rounding of the weights
        Path half = tmp.resolve("merged-f16");
        r = Cli.run("merge", "--model", base.toString(), "--adapter", adapter.toString(), "--out", half.toString(),
                "--dtype", "float16");
        assertEquals(0, r.exit(), r.toString());
        assertEquals("float16", JSON.readTree(half.resolve("config.json").toFile()).get("torch_dtype").asText());
        long f32 = Files.size(merged.resolve("model.safetensors"));
        long f16 = Files.size(half.resolve("model.safetensors"));
        assertTrue(f16 < 0.51 * f32 + 4096, f16 + " vs " + f32 + " bytes");
        List<JsonNode> h = logprobs(data, "--model", half.toString());
        for (int i = 0; i < ROWS.length; i++) {
            double w = want[i][0];
            assertEquals(w, h.get(i).get("chosen_logps").asDouble(), 2e-3 * Math.abs(w), type + " fp16 row " + i);
        }
    }

    @Test
    void mergeRefusesANonEmptyOutAMissingConfigAndAnAdapterOfAnotherShape() throws Exception {
        Path base = tmp.resolve("base");
        Path adapter = tmp.resolve("adapter");
        baseAndAdapter("llama", Map.of(), base, adapter, 7).close();

        Path full = tmp.resolve("full");
        Files.createDirectories(full);
        Files.writeString(full.resolve("mine.txt"), "keep");
        Cli.Result r = Cli.run("merge", "--model", base.toString(), "--adapter", adapter.toString(), "--out", full.toString());
        assertUserError(r, "--out " + full, "holds what align4j did not write: mine.txt");
        assertEquals("keep", Files.readString(full.resolve("mine.txt")));
        try (var s = Files.list(full)) {
            assertEquals(1, s.count(), "nothing written beside the user's file");
        }

        Path noConfig = tmp.resolve("no-config");
        Files.createDirectories(noConfig);
        Files.copy(adapter.resolve("adapter_model.safetensors"), noConfig.resolve("adapter_model.safetensors"));
        Path out1 = tmp.resolve("out1");
        r = Cli.run("merge", "--model", base.toString(), "--adapter", noConfig.toString(), "--out", out1.toString());
        assertUserError(r, noConfig.toString(), "adapter_config.json");
        assertFalse(Files.exists(out1), "a new --out is not left behind");

        Path otherBase = tmp.resolve("other-base");
        Path otherAdapter = tmp.resolve("other-adapter");
        baseAndAdapter("llama", Map.of("hidden_size", 32, "intermediate_size", 48), otherBase, otherAdapter, 8).close();
        Path out2 = tmp.resolve("out2");
        Files.createDirectories(out2); // an empty folder the user made stays, empty
        r = Cli.run("merge", "--model", base.toString(), "--adapter", otherAdapter.toString(), "--out", out2.toString());
        assertUserError(r, "adapter_model.safetensors", "shape");
        try (var s = Files.list(out2)) {
            assertEquals(0, s.count());
        }

        r = Cli.run("merge", "--model", base.toString(), "--adapter", adapter.toString(), "--out", out2.toString(),
                "--dtype", "int8");
        assertUserError(r, "--dtype 'int8'", "float16");
        r = Cli.run("logprobs", "--model", base.toString(), "--adapter", tmp.resolve("nowhere").toString(),
                "--data", "x.jsonl", "--out", "-");
        assertUserError(r, "--adapter", "no such folder");
    }

    static final Path QLORA = Path.of("recipes/zephyr-7b-beta/dpo-qlora.yaml");

    /** The handbook's zephyr config_qlora.yaml, 4-bit key off: every key known or ignored, the LoRA settings as written. */
    @Test
    void handbookQloraRecipeParses() throws Exception {
        List<String> ignored = new ArrayList<>();
        TrainConfig c = TrainConfig.fromYaml(QLORA, TrainConfig.defaults(), ignored).validated();
        assertTrue(c.lora().enabled());
        assertEquals(new LoraConfig(128, 128, 0.05, List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                "down_proj"), false), c.lora().adapters());
        assertEquals("bfloat16", c.model().torchDtype().key());
        assertTrue(c.model().gradientCheckpointing());
        assertEquals(0.01, c.lossSpec().beta());
        assertEquals(5e-6, c.optimization().learningRate());
        assertEquals(4, c.optimization().gradientAccumulationSteps());
        assertEquals(4, c.optimization().batchSize());
        assertEquals("alignment-handbook/zephyr-7b-sft-qlora", c.model().path());
        for (String k : List.of("attn_implementation", "dataset_mixer", "dataset_splits", "dataset_num_proc", "bf16", "do_eval",
                "eval_strategy", "gradient_checkpointing_kwargs", "hub_model_id", "log_level", "optim", "push_to_hub",
                "save_strategy")) {
            assertTrue(ignored.stream().anyMatch(i -> i.startsWith(k)), k + " is reported as ignored: " + ignored);
        }
        assertEquals(13, ignored.size(), ignored.toString());

        Path four = tmp.resolve("four.yaml");
        Files.writeString(four, Files.readString(QLORA).replace("load_in_4bit: false", "load_in_4bit: true"));
        Align4jException e = assertThrows(Align4jException.class, () -> TrainConfig.fromYaml(four, TrainConfig.defaults(),
                new ArrayList<>()));
        assertTrue(e.getMessage().contains("load_in_4bit") && e.getMessage().contains("torch_dtype: float16")
                && e.getMessage().contains("use_peft: true"), e.getMessage());
        Cli.Result r = Cli.run("train", "--config", four.toString(), "--dry-run");
        assertUserError(r, "load_in_4bit", "--torch-dtype float16 --use-peft");
    }

    /** train --config the recipe --dry-run: the LoRA, precision and recomputation plan; a half base refused without LoRA. */
    @Test
    void qloraRecipeDryRunAndHalfPrecisionNeedsPeft() throws Exception {
        Path base = tmp.resolve("base");
        CausalLM.init("llama", Map.of(), null, base, 1);
        Cli.Result r = Cli.run("train", "--config", QLORA.toString(), "--model", base.toString(), "--data", "d.jsonl",
                "--output", tmp.resolve("o").toString(), "--dry-run");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("weights: LoRA r=128, lora_alpha=128 (scaling 1), dropout 0.05, targets "
                + "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj; frozen base in bfloat16 (held as float16)"), r.out());
        assertTrue(r.out().contains("reference: the base with the adapters off (no second copy)"), r.out());
        assertTrue(r.out().contains("recompute: on"), r.out());
        assertTrue(r.out().contains("note: recipe key ignored: dataset_mixer"), r.out());

        r = Cli.run("train", "--config", QLORA.toString(), "--use-peft=false", "--model", base.toString(), "--data",
                "d.jsonl", "--output", tmp.resolve("o").toString(), "--dry-run");
        // full fine-tuning keeps float32 weights; the recipe's torch_dtype applies to the reference (handbook full recipes)
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("every weight trainable in float32 (torch_dtype applies to the reference)"), r.out());
        assertFalse(Files.exists(tmp.resolve("o")));
        r = Cli.run("train", "--model", base.toString(), "--data", "d.jsonl", "--output", tmp.resolve("o").toString(),
                "--use-peft", "--lora-r", "8", "--lora-alpha", "16", "--use-rslora", "--lora-target-modules", "q_proj,v_proj",
                "--gradient-checkpointing", "--dry-run");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("weights: LoRA r=8, lora_alpha=16 (scaling 5.65685, rslora), dropout 0.05, targets "
                + "q_proj,v_proj; frozen base in float32"), r.out());
        assertTrue(r.out().contains("gradient_checkpointing: true"), r.out());
    }

    /**
     * train --use-peft end to end on real data: step 0 is the base (loss ln 2), checkpoints and final/
     * hold PEFT adapter files (no full weights), and the trained adapter scores through logprobs,
     * eval and merge.
     */
    @Test
    void trainUsePeftOnRealDataThenScoreAndMerge() throws Exception {
        Path base = tmp.resolve("base");
        CausalLM.init("llama", Map.of("hidden_size", 32, "num_hidden_layers", 1, "num_attention_heads", 4,
                "num_key_value_heads", 2, "intermediate_size", 64), null, base, 3);
        Path data = TestData.shared("data/preference/llamafactory_dpo_en_demo.json");
        Path run = tmp.resolve("run");
        Cli.Result r = Cli.run("train", "--model", base.toString(), "--data", data.toString(), "--output", run.toString(),
                "--use-peft", "--lora-r", "4", "--lora-alpha", "8", "--lora-target-modules", "all-linear",
                "--gradient-checkpointing=false", "--loss", "dpo", "--beta", "0.1", "--lr", "1e-2", "--batch-size", "2",
                "--max-steps", "4", "--save-steps", "2", "--logging-steps", "1", "--seed", "1", "--max-length", "128",
                "--max-prompt-length", "64", "--cache-dir", tmp.resolve("cache").toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("LoRA r=4 alpha=8 dropout=0.05 on 7 projections (float32 base): "), r.out());
        List<JsonNode> m = TrainCommandTest.metrics(run);
        assertEquals(4, m.size());
        assertEquals(Math.log(2), m.get(0).get("loss").asDouble(), 1e-6, "B is zero at step 0: the policy is its reference");
        for (Path d : List.of(run.resolve("checkpoint-2"), run.resolve("final"))) {
            assertTrue(Files.isRegularFile(d.resolve("adapter_config.json")), d.toString());
            assertTrue(Files.isRegularFile(d.resolve("adapter_model.safetensors")), d.toString());
            assertFalse(Files.exists(d.resolve("model.safetensors")), "a LoRA run saves no full weights: " + d);
        }
        JsonNode cfg = JSON.readTree(run.resolve("final/adapter_config.json").toFile());
        assertEquals("LORA", cfg.get("peft_type").asText());
        assertEquals(4, cfg.get("r").asInt());

        Path pairs = data();
        Path adapter = run.resolve("final");
        List<JsonNode> plain = logprobs(pairs, "--model", base.toString());
        List<JsonNode> adapted = logprobs(pairs, "--model", base.toString(), "--adapter", adapter.toString());
        assertTrue(Math.abs(plain.get(0).get("chosen_logps").asDouble() - adapted.get(0).get("chosen_logps").asDouble()) > 1e-4,
                "the trained adapter changes the scores");
        Path merged = tmp.resolve("merged");
        assertEquals(0, Cli.run("merge", "--model", base.toString(), "--adapter", adapter.toString(), "--out",
                merged.toString()).exit());
        List<JsonNode> mm = logprobs(pairs, "--model", merged.toString());
        for (int i = 0; i < ROWS.length; i++) {
            LogprobsCommandTest.close(adapted.get(i).get("chosen_logps").asDouble(), mm.get(i).get("chosen_logps").asDouble(),
                    "merged row " + i);
        }
        Cli.Result e1 = Cli.run("eval", "--model", base.toString(), "--adapter", adapter.toString(), "--ref-model",
                base.toString(), "--data", pairs.toString(), "--json", "--device", "cpu");
        Cli.Result e2 = Cli.run("eval", "--model", merged.toString(), "--ref-model", base.toString(), "--data",
                pairs.toString(), "--json", "--device", "cpu");
        assertEquals(0, e1.exit(), e1.toString());
        assertEquals(0, e2.exit(), e2.toString());
        JsonNode j1 = JSON.readTree(e1.out());
        JsonNode j2 = JSON.readTree(e2.out());
        assertEquals(adapter.toString(), j1.get("adapter").asText());
        assertEquals(j2.get("accuracy").asDouble(), j1.get("accuracy").asDouble());
        LogprobsCommandTest.close(j2.get("mean_margin").asDouble(), j1.get("mean_margin").asDouble(), "eval mean margin");
        Cli.Result g1 = Cli.run("generate", "--model", base.toString(), "--adapter", adapter.toString(), "--prompt", "Hello",
                "--temperature", "0", "--max-new-tokens", "8", "--device", "cpu");
        Cli.Result g2 = Cli.run("generate", "--model", merged.toString(), "--prompt", "Hello", "--temperature", "0",
                "--max-new-tokens", "8", "--device", "cpu");
        assertEquals(0, g1.exit(), g1.toString());
        assertEquals(g2.out(), g1.out(), "greedy completions of base + adapter and of the merged model");
    }
}
