package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.SequenceScorer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TRL's DPOTrainer options use_weighting (WPO), ld_alpha (LD-DPO) and sync_ref_model (TR-DPO):
 * golden values worked by hand, that each changes training, TR-DPO's resume bit for bit, and what
 * is refused.
 */
class TrlOptionsTest {
    static {
        Offline.ensure();
    }

    @TempDir
    static Path shared;
    static Path model;
    static List<TokenizedPair> train;
    static List<TokenizedPair> heldOut;

    @BeforeAll
    static void setUp() throws Exception {
        model = SyntheticTask.model(shared.resolve("model"), 11);
        train = SyntheticTask.pairs(64, 1);
        heldOut = SyntheticTask.pairs(12, 2);
    }

    static TrainConfig config(int steps, Map<String, Object> extra) {
        return TrainConfig.defaults().with(Map.of("beta", 0.1, "learning_rate", 3e-3, "lr_scheduler_type", "constant",
                "per_device_train_batch_size", 8, "per_device_eval_batch_size", 16, "max_steps", steps, "logging_steps", 5,
                "seed", 7), "test").with(extra, "test");
    }

    /** Per completion token of prompt+completion, float64 from the full logits: {log p_t, log Σ_v p_v²}. */
    static double[][] perToken(CausalLM lm, int[] prompt, int[] completion) {
        int[] row = new int[prompt.length + completion.length];
        System.arraycopy(prompt, 0, row, 0, prompt.length);
        System.arraycopy(completion, 0, row, prompt.length, completion.length);
        try (NDManager m = lm.manager().newSubManager()) {
            long[] ids = java.util.Arrays.stream(row).asLongStream().toArray();
            float[] logits = lm.logits(m.create(ids, new Shape(1, ids.length))).toFloatArray();
            int v = lm.config().vocabSize();
            double[][] out = new double[completion.length][2];
            for (int t = prompt.length; t < row.length; t++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int k = 0; k < v; k++) {
                    max = Math.max(max, logits[(t - 1) * v + k]);
                }
                double z = 0;
                double z2 = 0;
                for (int k = 0; k < v; k++) {
                    z += Math.exp(logits[(t - 1) * v + k] - max);
                    z2 += Math.exp(2 * (logits[(t - 1) * v + k] - max));
                }
                double lse = max + Math.log(z);
                out[t - prompt.length][0] = logits[(t - 1) * v + row[t]] - lse;
                out[t - prompt.length][1] = 2 * max + Math.log(z2) - 2 * lse;
            }
            return out;
        }
    }

    static double alignedMean(double[][] pt) {
        double s = 0;
        for (double[] p : pt) {
            s += p[0] - p[1];
        }
        return s / pt.length;
    }

    private static PreferenceTrainer.Builder builder(CausalLM policy, TrainConfig cfg) {
        return PreferenceTrainer.builder().config(cfg).policy(policy).loss(Losses.create("dpo", Map.of()))
                .trainPairs(train).evalPairs(heldOut).console(null);
    }

    /** loss · min(1, exp(a_c + a_r)): TRL clamps the pair's weight at 1. */
    @Test
    void wpoWeightsThePairLossAndClampsAtOne() {
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            NDArray aligned = m.create(new float[] {-0.5f, 0.3f, -0.2f, 0.4f}); // chosen 0, 1; rejected 0, 1
            SequenceScorer.Scores sc = new SequenceScorer.Scores(m.zeros(new Shape(4)), m.zeros(new Shape(4)),
                    m.zeros(new Shape(4)), aligned);
            NDArray losses = m.create(new float[] {0.8f, 0.6f});
            float[] w = PairedBatches.weighted(new Batching.Scoring(null, null, 0.1, null, 1, true), losses, sc, 2)
                    .toFloatArray();
            assertEquals(0.8 * Math.exp(-0.7), w[0], 1e-6);
            assertEquals(0.6, w[1], 1e-6, "exp(0.7) > 1 is clamped to 1");
            assertArrayEquals(new float[] {0.8f, 0.6f},
                    PairedBatches.weighted(new Batching.Scoring(null, null, 0.1, null), losses, sc, 2).toFloatArray());
        }
    }

    /**
     * At the start the policy equals the reference, so every DPO loss is ln 2 and WPO's held-out loss is
     * ln 2 · mean_i min(1, exp(a_c,i + a_r,i)), with the a worked in float64 from the policy's logits.
     */
    @Test
    void wpoHeldOutLossAtTheStartByHand() throws Exception {
        try (CausalLM policy = CausalLM.load(model, ResumeTest.TRAIN);
                PreferenceTrainer t = builder(policy, config(1, Map.of("use_weighting", true))).build()) {
            double want = 0;
            for (TokenizedPair p : heldOut) {
                double a = alignedMean(perToken(policy, p.prompt(), p.chosen()))
                        + alignedMean(perToken(policy, p.prompt(), p.rejected()));
                want += Math.log(2) * Math.min(1, Math.exp(a));
            }
            want /= heldOut.size();
            double got = t.evaluate().get("eval_loss");
            assertEquals(want, got, 1e-5);
            assertTrue(got < Math.log(2) - 1e-3, "some pair weighs less than 1: " + got);
        }
    }

    /**
     * LD-DPO: the held-out logps are front + α · rear with the front the first min(|y_c|, |y_r|) tokens of
     * each completion, worked from per-token log-probs; the reference is desensitised the same way, so
     * policy = reference still gives ln 2.
     */
    @Test
    void ldLogpsAtTheStartByHand() throws Exception {
        double alpha = 0.4;
        try (CausalLM policy = CausalLM.load(model, ResumeTest.TRAIN);
                PreferenceTrainer t = builder(policy, config(1, Map.of("ld_alpha", alpha))).build()) {
            double chosen = 0;
            double rejected = 0;
            boolean anyRear = false;
            for (TokenizedPair p : heldOut) {
                int lp = Math.min(p.chosen().length, p.rejected().length);
                anyRear |= p.chosen().length != p.rejected().length;
                chosen += ld(perToken(policy, p.prompt(), p.chosen()), lp, alpha);
                rejected += ld(perToken(policy, p.prompt(), p.rejected()), lp, alpha);
            }
            assertTrue(anyRear, "the data has pairs of unequal lengths");
            Map<String, Double> ev = t.evaluate();
            assertEquals(chosen / heldOut.size(), ev.get("eval_logps/chosen"), 1e-4);
            assertEquals(rejected / heldOut.size(), ev.get("eval_logps/rejected"), 1e-4);
            assertEquals(Math.log(2), ev.get("eval_loss"), 1e-6, "the reference is desensitised as the policy is");
        }
    }

    private static double ld(double[][] pt, int full, double alpha) {
        double s = 0;
        for (int i = 0; i < pt.length; i++) {
            s += (i < full ? 1 : alpha) * pt[i][0];
        }
        return s;
    }

    /**
     * TR-DPO by hand: 3 steps with τ = 3 and α = 0.6 update the reference once, after step 3:
     * final/ref_model.safetensors = 0.6 · final policy + 0.4 · the initial weights.
     */
    @Test
    void trDpoReferenceUpdateByHand(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out");
        try (CausalLM policy = CausalLM.load(model, ResumeTest.TRAIN);
                PreferenceTrainer t = builder(policy, config(3, Map.of("sync_ref_model", true, "ref_model_sync_steps", 3,
                        "ref_model_mixup_alpha", 0.6))).output(out).build()) {
            t.train();
        }
        Map<String, float[]> init = Checkpoints.readFloats(model);
        Map<String, float[]> fin = Checkpoints.readFloats(out.resolve("final/model.safetensors"));
        Map<String, float[]> ref = Checkpoints.readFloats(out.resolve("final/" + Checkpoints.REFERENCE));
        assertEquals(init.keySet(), ref.keySet());
        double moved = 0;
        for (String k : init.keySet()) {
            float[] a = init.get(k);
            float[] p = fin.get(k);
            float[] r = ref.get(k);
            for (int i = 0; i < a.length; i++) {
                double want = 0.6 * p[i] + 0.4 * a[i];
                assertEquals(want, r[i], 2e-7 * Math.max(1, Math.abs(want)), k + "[" + i + "]");
                moved = Math.max(moved, Math.abs(r[i] - a[i]));
            }
        }
        assertTrue(moved > 1e-4, "the reference moved: " + moved);
    }

    /** Each option changes what is learnt, and each still learns the preference. */
    @Test
    void eachOptionChangesAndTrains() throws Exception {
        Map<String, Map<String, Object>> runs = new LinkedHashMap<>();
        runs.put("plain", Map.of());
        runs.put("use_weighting", Map.of("use_weighting", true));
        runs.put("ld_alpha", Map.of("ld_alpha", 0.3));
        runs.put("sync_ref_model", Map.of("sync_ref_model", true, "ref_model_sync_steps", 2, "ref_model_mixup_alpha", 0.5));
        Map<String, Map<String, float[]>> weights = new LinkedHashMap<>();
        Map<String, Double> losses = new LinkedHashMap<>();
        for (Map.Entry<String, Map<String, Object>> e : runs.entrySet()) {
            try (CausalLM policy = CausalLM.load(model, ResumeTest.TRAIN);
                    PreferenceTrainer t = builder(policy, config(16, e.getValue())).build()) {
                PreferenceTrainer.TrainResult r = t.train();
                double acc = ((Number) r.lastEval().get("eval_rewards/accuracies")).doubleValue();
                assertTrue(acc >= 0.75, e.getKey() + " learns the preference: held-out accuracy " + acc);
                losses.put(e.getKey(), ((Number) r.lastEval().get("eval_loss")).doubleValue());
                Map<String, float[]> w = new LinkedHashMap<>();
                policy.parameters().forEach((k, a) -> w.put(k, a.toFloatArray()));
                weights.put(e.getKey(), w);
            }
        }
        for (String k : List.of("use_weighting", "ld_alpha", "sync_ref_model")) {
            assertTrue(maxDiff(weights.get("plain"), weights.get(k)) > 1e-4, k + " changes the weights learnt");
            assertTrue(losses.get(k) < Math.log(2), k + " lowers the held-out loss: " + losses);
            assertFalse(losses.get(k).equals(losses.get("plain")), k);
        }
    }

    private static double maxDiff(Map<String, float[]> a, Map<String, float[]> b) {
        double d = 0;
        for (String k : a.keySet()) {
            for (int i = 0; i < a.get(k).length; i++) {
                d = Math.max(d, Math.abs(a.get(k)[i] - b.get(k)[i]));
            }
        }
        return d;
    }

    /**
     * TR-DPO stopped at step 3 (after a reference update at 2), resumed and stopped at 4 (a step that updates it),
     * and resumed again ends bit-identical to one run.
     */
    @Test
    void trDpoResumesBitIdentical(@TempDir Path dir) throws Exception {
        Map<String, Object> tr = Map.of("sync_ref_model", true, "ref_model_sync_steps", 2, "ref_model_mixup_alpha", 0.5);
        List<TokenizedPair> data = SyntheticTask.pairs(18, 1);
        Path whole = dir.resolve("whole");
        ResumeTest.Run ref = ResumeTest.train(model, whole, ResumeTest.config(7, tr), false, data, null, -1);
        Path out = dir.resolve("parts");
        ResumeTest.Run first = ResumeTest.train(model, out, ResumeTest.config(7, tr), false, data, null, 3);
        assertTrue(first.result().stopped());
        assertTrue(Files.isRegularFile(out.resolve("checkpoint-3/" + Checkpoints.REFERENCE)));
        ResumeTest.Run second = ResumeTest.train(model, out, ResumeTest.config(7, tr), true, data, null, 4); // a sync step
        assertEquals(4, second.result().steps());
        ResumeTest.Run last = ResumeTest.train(model, out, ResumeTest.config(7, tr), true, data, null, -1);
        assertEquals(7, last.result().steps());
        ResumeTest.assertSameWeights(ref.weights(), last.weights());
        assertArrayEquals(Files.readAllBytes(whole.resolve("final/" + Checkpoints.REFERENCE)),
                Files.readAllBytes(out.resolve("final/" + Checkpoints.REFERENCE)), "the reference, bit for bit");
        assertEquals(ResumeTest.metricsWithoutTiming(whole), ResumeTest.metricsWithoutTiming(out));

        // a checkpoint without the reference (a run without TR-DPO) cannot continue one with it
        Path plain = dir.resolve("plain");
        ResumeTest.train(model, plain, ResumeTest.config(7, Map.of()), false, data, null, 3);
        Align4jException e = assertThrows(Align4jException.class,
                () -> ResumeTest.train(model, plain, ResumeTest.config(7, tr), true, data, null, -1));
        assertTrue(e.getMessage().contains("holds no ref_model.safetensors") && e.getMessage().contains("sync_ref_model"),
                e.getMessage());
    }

    /** A checkpoint's TR-DPO reference is read back as untrusted: a NaN (manifest rehashed) is refused, naming it. */
    @Test
    void aNonFiniteTrDpoReferenceIsRefused(@TempDir Path dir) throws Exception {
        Map<String, Object> tr = Map.of("sync_ref_model", true, "ref_model_sync_steps", 2);
        List<TokenizedPair> data = SyntheticTask.pairs(18, 1);
        Path out = dir.resolve("out");
        ResumeTest.train(model, out, ResumeTest.config(5, tr), false, data, null, 3);
        Path ck = out.resolve("checkpoint-3");
        Path ref = ck.resolve(Checkpoints.REFERENCE);
        byte[] b = Files.readAllBytes(ref);
        java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(b.length - 4, Float.NaN);
        Files.write(ref, b);
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        var manifest = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(ck.resolve(Checkpoints.MANIFEST).toFile());
        for (var e : manifest.get("files")) {
            Path f = ck.resolve(e.get("path").asText());
            ((com.fasterxml.jackson.databind.node.ObjectNode) e).put("bytes", Files.size(f)).put("sha256",
                    Checkpoints.sha256(f, false));
        }
        Files.write(ck.resolve(Checkpoints.MANIFEST), json.writeValueAsBytes(manifest));
        Align4jException e = assertThrows(Align4jException.class,
                () -> ResumeTest.train(model, out, ResumeTest.config(5, tr), true, data, null, -1));
        assertTrue(e.getMessage().contains(Checkpoints.REFERENCE) && e.getMessage().contains("NaN")
                && e.getMessage().contains("the TR-DPO reference"), e.getMessage());
        assertFalse(Files.exists(out.resolve("final")), "nothing written");
    }

    @Test
    void refusesWhatCannotWork(@TempDir Path dir) throws Exception {
        try (CausalLM policy = CausalLM.load(model, ResumeTest.TRAIN)) {
            Align4jException e = assertThrows(Align4jException.class, () -> builder(policy,
                    config(2, Map.of("sync_ref_model", true, "precompute_ref_log_probs", true))).build());
            assertTrue(e.getMessage().contains("cannot be precomputed"), e.getMessage());
            e = assertThrows(Align4jException.class, () -> builder(policy,
                    config(2, Map.of("ld_alpha", 0.5, "precompute_ref_log_probs", true))).build());
            assertTrue(e.getMessage().contains("ld_alpha") && e.getMessage().contains("precompute_ref_log_probs"), e.getMessage());
            e = assertThrows(Align4jException.class, () -> PreferenceTrainer.builder()
                    .config(config(2, Map.of("use_weighting", true, "loss_type", "kto"))).policy(policy)
                    .trainUnpaired(SyntheticTask.unpaired(train, 1)).console(null).build());
            assertTrue(e.getMessage().startsWith("use_weighting is an option of TRL's DPOTrainer for paired losses"),
                    e.getMessage());
            e = assertThrows(Align4jException.class, () -> PreferenceTrainer.builder()
                    .config(config(2, Map.of("sync_ref_model", true))).policy(policy).loss(Losses.create("simpo", Map.of()))
                    .trainPairs(train).console(null).build());
            assertTrue(e.getMessage().contains("uses no reference"), e.getMessage());
        }
        try (CausalLM policy = CausalLM.load(model, CausalLM.Options.inference().withDevice(ai.djl.Device.cpu()))
                .addAdapters(LoraConfig.defaults().withR(4), 1)) {
            Align4jException e = assertThrows(Align4jException.class,
                    () -> builder(policy, config(2, Map.of("sync_ref_model", true))).build());
            assertTrue(e.getMessage().contains("LoRA") && e.getMessage().contains("use_peft false"), e.getMessage());
        }
        for (Map.Entry<String, Object> bad : Map.<String, Object>of("ld_alpha", 1.5, "ref_model_mixup_alpha", 0.0,
                "ref_model_sync_steps", 0).entrySet()) {
            Align4jException e = assertThrows(Align4jException.class,
                    () -> TrainConfig.defaults().with(bad.getKey(), bad.getValue(), "recipe.yaml"));
            assertTrue(e.getMessage().startsWith("recipe.yaml: key '" + bad.getKey() + "' must be"), e.getMessage());
        }
        for (String other : List.of("precompute_ref_log_probs", "use_peft")) { // refused before any model loads
            Align4jException e = assertThrows(Align4jException.class, () -> TrainConfig.defaults()
                    .with(Map.of("sync_ref_model", true, other, true), "recipe.yaml").validated());
            assertTrue(e.getMessage().startsWith("sync_ref_model (TR-DPO)") && e.getMessage().contains(other), e.getMessage());
        }
        java.util.HashMap<String, Object> nul = new java.util.HashMap<>();
        nul.put("ld_alpha", null);
        assertEquals(1.0, TrainConfig.defaults().with(nul, "recipe.yaml").lossSpec().ldAlpha(), "ld_alpha: null is TRL's off");
        assertNotNull(TrainConfig.builder().useWeighting(true).ldAlpha(0.5).syncRefModel(true).refModelMixupAlpha(0.9)
                .refModelSyncSteps(4).build());
    }
}
