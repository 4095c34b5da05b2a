package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.SafeTensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA-DPO through PreferenceTrainer: the reference is the base with the adapters off, only the
 * adapters train, checkpoints hold PEFT's files, and a resumed run equals an uninterrupted one.
 */
class LoraTrainerTest {
    static {
        Offline.ensure();
    }

    static final CausalLM.Options FROZEN = new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32);
    static final LoraConfig LORA = LoraConfig.defaults().withR(8).withAlpha(16).withTargetModules(List.of("all-linear"));

    static TrainConfig config(int steps, Map<String, Object> extra) {
        Map<String, Object> m = new LinkedHashMap<>(Map.of("beta", 0.1, "learning_rate", 1e-2, "lr_scheduler_type", "constant",
                "per_device_train_batch_size", 8, "per_device_eval_batch_size", 16, "max_steps", steps, "logging_steps", 1,
                "max_grad_norm", 1.0, "seed", 7));
        m.putAll(extra);
        return TrainConfig.defaults().with(m, "test");
    }

    static Map<String, float[]> copy(Map<String, NDArray> arrays) {
        Map<String, float[]> m = new LinkedHashMap<>();
        arrays.forEach((k, v) -> m.put(k, v.toFloatArray()));
        return m;
    }

    /**
     * LoRA-DPO learns the synthetic preference (held-out reward accuracy from 0 to ≥ 0.9) starting from
     * loss ln 2, leaves every base weight bit for bit as it was, and writes the adapter as PEFT does.
     */
    @Test
    void learnsWithTheBaseFrozenAndTheReferenceAsAdaptersOff(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 11);
        List<TokenizedPair> train = SyntheticTask.pairs(200, 1);
        List<TokenizedPair> heldOut = SyntheticTask.pairs(64, 2);
        Path out = dir.resolve("out");
        try (CausalLM policy = CausalLM.load(model, FROZEN).addAdapters(LORA, 7);
                PreferenceTrainer t = PreferenceTrainer.builder().config(config(40, Map.of("save_steps", 20))).policy(policy)
                        .loss(Losses.create("dpo", Map.of())).trainPairs(train).evalPairs(heldOut).output(out).build()) {
            Map<String, float[]> base = copy(policy.parameters());
            double before = t.evaluate().get("eval_rewards/accuracies");
            PreferenceTrainer.TrainResult r = t.train();
            double first = ((Number) r.history().get(0).get("loss")).doubleValue();
            assertEquals(Math.log(2), first, 1e-6, "step 0: the adapted policy equals the reference, so the loss is ln 2");
            double after = ((Number) r.lastEval().get("eval_rewards/accuracies")).doubleValue();
            assertTrue(before <= 0.6, "starts near chance: " + before);
            assertTrue(after >= 0.9, "LoRA-DPO learns the preference: held-out accuracy " + after);
            ResumeTest.assertSameWeights(base, copy(policy.parameters()));
        }
        for (String ck : List.of("final", "checkpoint-20")) {
            Path f = out.resolve(ck);
            assertTrue(Files.isRegularFile(f.resolve("adapter_config.json")), ck);
            assertTrue(Files.isRegularFile(f.resolve("adapter_model.safetensors")), ck);
            assertFalse(Files.exists(f.resolve("model.safetensors")), ck + " holds the adapter, not a copy of the base");
            try (SafeTensors.Checkpoint opt = SafeTensors.open(f.resolve("optimizer.safetensors"));
                    SafeTensors.Checkpoint ad = SafeTensors.open(f.resolve("adapter_model.safetensors"))) {
                Set<String> names = opt.names().stream().map(n -> n.substring(n.indexOf('.') + 1)).collect(Collectors.toSet());
                assertEquals(ad.names(), names, "AdamW state exactly for the adapter's weights");
                assertTrue(ad.names().stream().allMatch(n -> n.startsWith("base_model.model.model.layers.")), ad.names().toString());
            }
        }
        JsonNode cfg = new ObjectMapper().readTree(out.resolve("final/adapter_config.json").toFile());
        assertEquals(model.toString(), cfg.get("base_model_name_or_path").asText());
        // the adapter applies onto the base and reproduces the trained policy's held-out accuracy
        try (CausalLM again = CausalLM.load(model, FROZEN).loadAdapter(out.resolve("final"), false)) {
            assertTrue(again.trainableParameters().isEmpty());
        }
    }

    /** A LoRA run stopped at a checkpoint and resumed ends with the uninterrupted run's adapter, bit for bit (dropout on). */
    @Test
    void resumedEqualsUninterrupted(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        List<TokenizedPair> data = SyntheticTask.pairs(24, 1);
        TrainConfig cfg = config(6, Map.of("per_device_train_batch_size", 4, "gradient_accumulation_steps", 2,
                "lr_scheduler_type", "cosine", "warmup_steps", 2));
        LoraConfig lora = LORA.withDropout(0.1);
        Map<String, float[]> whole = run(model, dir.resolve("whole"), cfg, lora, false, -1);
        run(model, dir.resolve("parts"), cfg, lora, false, 3);
        Map<String, float[]> resumed = run(model, dir.resolve("parts"), cfg, lora, true, -1);
        ResumeTest.assertSameWeights(whole, resumed);
    }

    /**
     * precompute_ref_log_probs with adapters: the reference (adapters off) is scored once, before
     * training, and gives the live reference's loss. The adapter starts away from zero so that the
     * first loss depends on the reference (later steps amplify float noise through AdamW).
     */
    @Test
    void precomputedReferenceIsTheBase(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        double live = losses(model, dir.resolve("live"), false).get(0);
        double pre = losses(model, dir.resolve("pre"), true).get(0);
        assertEquals(live, pre, 1e-5);
        assertTrue(Math.abs(live - Math.log(2)) > 1e-3, "the policy differs from the reference: " + live);
    }

    private static List<Double> losses(Path model, Path out, boolean precompute) {
        TrainConfig cfg = config(4, Map.of("precompute_ref_log_probs", precompute));
        try (CausalLM policy = CausalLM.load(model, FROZEN).addAdapters(LORA.withDropout(0), 3);
                PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy)
                        .loss(Losses.create("dpo", Map.of())).trainPairs(SyntheticTask.pairs(32, 1))
                        .cacheDir(out.resolve("cache")).output(out.resolve("run")).build()) {
            java.util.Random r = new java.util.Random(4);
            policy.trainableParameters().forEach((k, v) -> {
                if (k.endsWith("lora_B.weight")) {
                    float[] b = new float[(int) v.size()];
                    for (int i = 0; i < b.length; i++) {
                        b[i] = (float) (r.nextGaussian() * 0.05);
                    }
                    v.set(b);
                }
            });
            return t.train().history().stream().filter(m -> m.containsKey("loss"))
                    .map(m -> ((Number) m.get("loss")).doubleValue()).collect(Collectors.toList());
        }
    }

    private static Map<String, float[]> run(Path model, Path out, TrainConfig cfg, LoraConfig lora, boolean resume, long stopAt) {
        try (CausalLM policy = CausalLM.load(model, FROZEN).addAdapters(lora, 3)) {
            PreferenceTrainer[] self = new PreferenceTrainer[1];
            try (PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy)
                    .loss(Losses.create("dpo", Map.of())).trainPairs(SyntheticTask.pairs(24, 1)).output(out).resume(resume)
                    .onStep((step, s, tok) -> {
                        if (step == stopAt) {
                            self[0].requestStop("test");
                        }
                    }).build()) {
                self[0] = t;
                PreferenceTrainer.TrainResult r = t.train();
                assertEquals(stopAt > 0, r.stopped());
                return copy(policy.trainableParameters());
            }
        }
    }
}
