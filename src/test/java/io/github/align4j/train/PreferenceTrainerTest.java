package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Losses;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.model.CausalLM;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class PreferenceTrainerTest {
    static {
        Offline.ensure();
    }

    static final CausalLM.Options TRAIN = new CausalLM.Options(Device.cpu(), true, ai.djl.ndarray.types.DataType.FLOAT32);

    static TrainConfig config(Map<String, Object> extra) {
        return TrainConfig.defaults().with(Map.of("beta", 0.1, "learning_rate", 3e-3, "lr_scheduler_type", "constant",
                "per_device_train_batch_size", 8, "per_device_eval_batch_size", 16, "max_steps", 50, "logging_steps", 10,
                "max_grad_norm", 1.0, "seed", 7), "test").with(extra, "test");
    }

    /** 50 steps of each built-in loss raise held-out reward accuracy from 0 (policy = reference) to ≥ 0.9. */
    @ParameterizedTest
    @ValueSource(strings = {"dpo", "ipo", "kto_pair", "kto"})
    void lossesLearnTheSyntheticPreference(String name, @TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 11);
        List<TokenizedPair> train = SyntheticTask.pairs(200, 1);
        List<TokenizedPair> heldOut = SyntheticTask.pairs(64, 2);
        PreferenceLoss loss = Losses.create(name, Map.of());
        TrainConfig cfg = config(Map.of("loss_type", name, "beta", name.equals("ipo") ? 0.5 : 0.1));
        try (CausalLM policy = CausalLM.load(model, TRAIN)) {
            PreferenceTrainer.Builder b = PreferenceTrainer.builder().config(cfg).policy(policy).loss(loss)
                    .evalPairs(heldOut).output(dir.resolve("out")).console(null);
            if (name.equals("kto")) {
                b.trainUnpaired(SyntheticTask.unpaired(train, 3));
            } else {
                b.trainPairs(train);
            }
            try (PreferenceTrainer t = b.build()) {
                double before = t.evaluate().get("eval_rewards/accuracies");
                PreferenceTrainer.TrainResult r = t.train();
                double after = ((Number) r.lastEval().get("eval_rewards/accuracies")).doubleValue();
                assertTrue(before <= 0.6, name + " starts near chance: " + before);
                assertTrue(after >= 0.9, name + " learns the preference: held-out accuracy " + after);
                assertEquals(50, r.steps());
            }
        }
        assertTrue(Files.exists(dir.resolve("out/final/model.safetensors")));
        assertTrue(Files.exists(dir.resolve("out/final/optimizer.safetensors")));
        List<String> lines = Files.readAllLines(dir.resolve("out/metrics.jsonl"));
        JsonNode first = new ObjectMapper().readTree(lines.get(0));
        for (String k : List.of("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen",
                "logps/rejected", "logits/chosen", "logits/rejected", "learning_rate", "grad_norm", "epoch", "step",
                "tokens_per_second", "elapsed_s")) {
            assertTrue(first.has(k), "metrics.jsonl has " + k + ": " + first);
        }
        if (name.equals("kto")) {
            assertTrue(first.has("kl"));
        } else {
            assertTrue(first.has("rewards/accuracies"));
        }
        assertTrue(lines.stream().anyMatch(l -> l.contains("eval_rewards/accuracies")));
    }

    /** With policy = reference, DPO's first loss is ln 2 and every reward is 0. */
    @Test
    void firstDpoLossIsLn2(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        try (CausalLM policy = CausalLM.load(model, TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(config(Map.of("max_steps", 1, "logging_steps", 1)))
                        .policy(policy).loss(Losses.create("dpo", Map.of())).trainPairs(SyntheticTask.pairs(16, 1))
                        .console(null).build()) {
            Map<String, Object> m = t.train().lastTrain();
            assertEquals(Math.log(2), ((Number) m.get("loss")).doubleValue(), 1e-6);
            assertEquals(0.0, ((Number) m.get("rewards/chosen")).doubleValue(), 1e-7);
            assertEquals(0.0, ((Number) m.get("rewards/rejected")).doubleValue(), 1e-7);
        }
    }

    /** Same seed and data give bit-identical weights; shuffling changes the result. */
    @Test
    void deterministicOnCpu(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        float[][] w = new float[3][];
        for (int run = 0; run < 3; run++) {
            TrainConfig cfg = config(Map.of("max_steps", 6, "gradient_accumulation_steps", 2, "shuffle", run < 2,
                    "warmup_steps", 2, "lr_scheduler_type", "cosine", "weight_decay", 0.01));
            try (CausalLM policy = CausalLM.load(model, TRAIN);
                    PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy)
                            .loss(Losses.create("dpo", Map.of())).trainPairs(SyntheticTask.pairs(40, 1)).console(null).build()) {
                t.train();
                w[run] = policy.parameters().get("model.layers.0.self_attn.q_proj.weight").toFloatArray();
            }
        }
        assertArrayEquals(w[0], w[1], 0f);
        assertFalse(java.util.Arrays.equals(w[0], w[2]));
    }

    /** Precomputed reference log-probs give the live reference's losses, and a second run reuses the cache. */
    @Test
    void precomputedReferenceMatchesLiveAndIsReused(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        List<TokenizedPair> train = SyntheticTask.pairs(48, 1);
        double[][] losses = new double[3][];
        String[] consoles = new String[3];
        for (int run = 0; run < 3; run++) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            TrainConfig cfg = config(Map.of("max_steps", 5, "logging_steps", 1, "precompute_ref_log_probs", run > 0));
            try (CausalLM policy = CausalLM.load(model, TRAIN);
                    PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy)
                            .loss(Losses.create("dpo", Map.of())).trainPairs(train).evalPairs(SyntheticTask.pairs(8, 9))
                            .cacheDir(dir.resolve("cache")).console(new PrintStream(buf, true, StandardCharsets.UTF_8)).build()) {
                losses[run] = t.train().history().stream().filter(m -> m.containsKey("learning_rate"))
                        .mapToDouble(m -> ((Number) m.get("loss")).doubleValue()).toArray();
            }
            consoles[run] = buf.toString(StandardCharsets.UTF_8);
        }
        assertArrayEquals(losses[0], losses[1], 1e-5);
        assertArrayEquals(losses[0], losses[2], 1e-5);
        assertTrue(consoles[1].contains("scoring"), consoles[1]);
        assertTrue(consoles[2].contains("reference model not loaded"), consoles[2]);
    }

    /** Without a cache folder, precomputed reference log-probs stay in memory: same losses, no file written. */
    @Test
    void precomputedReferenceWithoutACacheFolderWritesNothing(@TempDir Path dir) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty("align4j.cache") == null);
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        List<TokenizedPair> train = SyntheticTask.pairs(48, 1);
        double[][] losses = new double[2][];
        String console = null;
        for (int run = 0; run < 2; run++) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            TrainConfig cfg = config(Map.of("max_steps", 5, "logging_steps", 1, "precompute_ref_log_probs", run > 0));
            try (CausalLM policy = CausalLM.load(model, TRAIN);
                    PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy)
                            .loss(Losses.create("dpo", Map.of())).trainPairs(train)
                            .console(new PrintStream(buf, true, StandardCharsets.UTF_8)).build()) {
                losses[run] = t.train().history().stream().filter(m -> m.containsKey("learning_rate"))
                        .mapToDouble(m -> ((Number) m.get("loss")).doubleValue()).toArray();
            }
            console = buf.toString(StandardCharsets.UTF_8);
        }
        assertArrayEquals(losses[0], losses[1], 1e-5);
        assertTrue(console.contains("kept in memory (no cache folder given)"), console);
        try (var files = java.nio.file.Files.walk(dir)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().startsWith("ref-")), "no reference cache file");
        }
    }

    /**
     * Live native arrays stay flat over many steps (every step runs in a scope). Both runs see every
     * sequence length, so the bounded rotary/mask caches are full in both.
     */
    @Test
    void nativeArraysStayFlat(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        int[] counts = new int[2];
        for (int run = 0; run < 2; run++) {
            TrainConfig cfg = config(Map.of("max_steps", run == 0 ? 60 : 240, "per_device_train_batch_size", 1));
            try (CausalLM policy = CausalLM.load(model, TRAIN);
                    PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy)
                            .loss(Losses.create("dpo", Map.of())).trainPairs(SyntheticTask.pairs(30, 1)).console(null).build()) {
                t.train();
                counts[run] = policy.liveArrays();
            }
        }
        assertEquals(counts[0], counts[1], "live arrays after 60 vs 240 steps");
    }

    @Test
    void refusesMismatchedLossAndData(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        try (CausalLM policy = CausalLM.load(model, TRAIN)) {
            var e = org.junit.jupiter.api.Assertions.assertThrows(io.github.align4j.Align4jException.class,
                    () -> PreferenceTrainer.builder().policy(policy).loss(Losses.create("kto", Map.of()))
                            .trainPairs(SyntheticTask.pairs(4, 1)).build());
            assertTrue(e.getMessage().contains("kto") && e.getMessage().contains("paired"), e.getMessage());
        }
    }

    /** The user-defined loss in examples/ trains through the Java API, found by its class name. */
    @Test
    void customLossFromExamplesTrains(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 11);
        PreferenceLoss loss = Losses.create("com.example.SoftHingeLoss", Map.of());
        assertEquals("soft_hinge", loss.name());
        try (CausalLM policy = CausalLM.load(model, TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(config(Map.of())).policy(policy).loss(loss)
                        .trainPairs(SyntheticTask.pairs(200, 1)).evalPairs(SyntheticTask.pairs(64, 2)).console(null).build()) {
            PreferenceTrainer.TrainResult r = t.train();
            assertTrue(((Number) r.lastEval().get("eval_rewards/accuracies")).doubleValue() >= 0.9, r.lastEval().toString());
            assertTrue(r.lastTrain().containsKey("soft_hinge/margin"));
        }
    }

    /**
     * Closing the trainer frees its optimizer state: a second identical run leaves the model's
     * manager exactly as the first did (the first fills the bounded rotary/mask caches).
     */
    @Test
    void closingTheTrainerFreesTheOptimizer(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        try (CausalLM policy = CausalLM.load(model, TRAIN)) {
            int[] after = new int[2];
            for (int run = 0; run < 2; run++) {
                int before = policy.liveArrays();
                try (PreferenceTrainer t = PreferenceTrainer.builder().config(config(Map.of("max_steps", 3))).policy(policy)
                        .loss(Losses.create("dpo", Map.of())).trainPairs(SyntheticTask.pairs(8, 1)).console(null).build()) {
                    t.train();
                    assertTrue(policy.liveArrays() >= before + 2 * policy.parameters().size(),
                            "AdamW moments live on the model's manager while training");
                }
                after[run] = policy.liveArrays();
            }
            assertEquals(after[0], after[1]);
        }
    }
}
