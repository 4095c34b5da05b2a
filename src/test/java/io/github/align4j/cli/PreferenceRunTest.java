package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.PreferenceRun;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import io.github.align4j.train.TrainingListener;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The run the library builds from a config is the run {@code align4j train} runs: every key is honoured from Java as
 * from the command line (LoRA, eval_split, output_dir, torch_dtype), the two give the same weights byte for byte,
 * and a trainer built by hand refuses the keys it cannot honour, naming the call that does.
 */
class PreferenceRunTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Path data;

    @BeforeAll
    static void setUp() throws Exception {
        model = tmp.resolve("model");
        CausalLM.init("llama", Map.of("hidden_size", 32, "intermediate_size", 64, "num_hidden_layers", 1,
                "num_attention_heads", 4, "num_key_value_heads", 2, "max_position_embeddings", 128), null, model, 3);
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            rows.add("{\"prompt\": \"Question " + i + ": is the sky blue?\\nAnswer:\", \"chosen\": \" Yes, it is blue.\", "
                    + "\"rejected\": \" No" + ".".repeat(i % 3 + 1) + "\"}");
        }
        data = tmp.resolve("pairs.jsonl");
        Files.write(data, rows, StandardCharsets.UTF_8);
    }

    private static TrainConfig.Builder lora(Path out) {
        return TrainConfig.builder().modelPath(model.toString()).trainFile(data.toString()).evalSplit(0.25)
                .usePeft(true).loraR(8).loraAlpha(16).loraTargetModules("all-linear").learningRate(1e-2).maxSteps(3)
                .batchSize(3).loggingSteps(1).seed(11).outputDir(out.toString());
    }

    @Test
    void loraFromJavaIsTheCommandLinesRunByteForByte() throws Exception {
        Path javaOut = tmp.resolve("java");
        List<Long> steps = new ArrayList<>();
        PreferenceTrainer.TrainResult r = PreferenceRun.builder().config(lora(javaOut).build())
                .listener(new TrainingListener() {
                    @Override
                    public void onStepEnd(long step, Map<String, Double> metrics) {
                        steps.add(step);
                    }
                }).build().train();
        assertEquals(3, r.steps());
        assertEquals(List.of(1L, 2L, 3L), steps);
        assertNotNull(r.lastEval(), "eval_split held out data and it was evaluated");
        Path adapter = javaOut.resolve("final/adapter_model.safetensors");
        assertTrue(Files.isRegularFile(adapter), "use_peft trained and saved an adapter");
        assertFalse(Files.exists(javaOut.resolve("final/model.safetensors")), "no full weights: only the adapter trained");

        Path cliOut = tmp.resolve("cli");
        Cli.Result c = Cli.run("train", "--model", model.toString(), "--data", data.toString(), "--eval-split", "0.25",
                "--use-peft", "--lora-r", "8", "--lora-alpha", "16", "--lora-target-modules", "all-linear", "--lr", "1e-2",
                "--max-steps", "3", "--batch-size", "3", "--logging-steps", "1", "--seed", "11", "--output", cliOut.toString(),
                "--cache-dir", tmp.resolve("cache").toString());
        assertEquals(0, c.exit(), c.toString());
        assertTrue(c.out().contains("LoRA r=8 alpha=16"), c.out());
        assertArrayEquals(Files.readAllBytes(adapter), Files.readAllBytes(cliOut.resolve("final/adapter_model.safetensors")),
                "the same settings give the same adapter from Java and from the command line");
    }

    @Test
    void aRecipeFileRunsAsIs() throws Exception {
        Path out = tmp.resolve("recipe-out");
        Path recipe = tmp.resolve("r.yaml");
        Files.writeString(recipe, "model_name_or_path: " + model + "\ntrain_file: " + data + "\noutput_dir: " + out
                + "\nloss_type: ipo\nbeta: 0.5\nlearning_rate: 1.0e-3\nmax_steps: 2\nper_device_train_batch_size: 4\nbf16: true\n");
        PreferenceRun run = PreferenceRun.fromRecipe(recipe);
        assertEquals("ipo", run.loss().name());
        PreferenceRun.Plan plan = run.plan(false);
        assertTrue(plan.ignoredKeys().stream().anyMatch(k -> k.startsWith("bf16")), plan.ignoredKeys().toString());
        assertTrue(plan.fits());
        PreferenceTrainer.TrainResult r = run.train();
        assertEquals(2, r.steps());
        assertTrue(Files.isRegularFile(out.resolve("final/model.safetensors")), "full fine-tuning saved the weights");
    }

    @Test
    void aTrainerBuiltByHandRefusesWhatItCannotHonourAndHonoursOutputDir() throws Exception {
        try (TextTokenizer tok = TextTokenizer.load(model, null);
                CausalLM policy = CausalLM.load(model, CausalLM.Options.training())) {
            PreferenceData d = PreferenceData.load(data.toString(), DataOptions.defaults()
                    .withCacheDir(tmp.resolve("cache-hand")), tok);
            String peft = assertThrows(Align4jException.class, () -> PreferenceTrainer.builder()
                    .config(TrainConfig.builder().usePeft(true).build()).policy(policy).trainPairs(d.pairs()).build())
                    .getMessage();
            assertTrue(peft.contains("use_peft") && peft.contains("addAdapters") && peft.contains("PreferenceRun"), peft);
            String file = assertThrows(Align4jException.class, () -> PreferenceTrainer.builder()
                    .config(TrainConfig.builder().trainFile(data.toString()).build()).policy(policy).trainPairs(d.pairs())
                    .build()).getMessage();
            assertTrue(file.contains("train_file") && file.contains("PreferenceRun"), file);
            String split = assertThrows(Align4jException.class, () -> PreferenceTrainer.builder()
                    .config(TrainConfig.builder().evalSplit(0.2).build()).policy(policy).trainPairs(d.pairs()).build())
                    .getMessage();
            assertTrue(split.contains("eval_split") && split.contains("PreferenceData.split"), split);
            Path out = tmp.resolve("by-hand");
            try (PreferenceTrainer t = PreferenceTrainer.builder()
                    .config(TrainConfig.builder().maxSteps(1).batchSize(4).outputDir(out.toString()).build())
                    .policy(policy).trainPairs(d.pairs()).build()) {
                t.train();
            }
            assertTrue(Files.isRegularFile(out.resolve("final/model.safetensors")), "output_dir is where it saved");
        }
    }

    @Test
    void dryRunRefusesLoraTargetsThatMatchNothing() {
        Cli.Result r = Cli.run("train", "--model", model.toString(), "--data", data.toString(), "--output",
                tmp.resolve("never").toString(), "--use-peft", "--lora-target-modules", "qq_proj", "--dry-run");
        InitCommandTest.assertUserError(r, "qq_proj", "q_proj");
        assertFalse(Files.exists(tmp.resolve("never")));
        String missing = assertThrows(Align4jException.class, () -> PreferenceRun.builder()
                .config(TrainConfig.builder().modelPath(model.toString()).outputDir("o").build()).build()).getMessage();
        assertTrue(missing.contains("train_file") && missing.contains("trainData"), missing);
    }
}
