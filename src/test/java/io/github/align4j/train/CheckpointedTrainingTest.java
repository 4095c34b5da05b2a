package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gradient_checkpointing: true} changes memory, not training: DPO (one concatenated policy
 * pass), KTO (a policy pass with a graph next to the KL pass without one) and SFT reach the weights
 * the plain backward reaches, and a checkpointed run leaves no native array behind.
 */
class CheckpointedTrainingTest {
    private static Map<String, float[]> preference(Path model, String loss, boolean checkpointing) {
        TrainConfig cfg = PreferenceTrainerTest.config(Map.of("max_steps", 6, "gradient_checkpointing", checkpointing));
        PreferenceTrainer.Builder b = PreferenceTrainer.builder().config(cfg).loss(Losses.create(loss, Map.of())).console(null);
        b = loss.equals("kto") ? b.trainUnpaired(SyntheticTask.unpaired(SyntheticTask.pairs(48, 1), 3))
                : b.trainPairs(SyntheticTask.pairs(48, 1));
        try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN); PreferenceTrainer t = b.policy(policy).build()) {
            t.train();
            assertEquals(checkpointing, policy.gradientCheckpointing(), "the trainer sets gradient_checkpointing");
            return SftTrainerTest.weights(policy);
        }
    }

    /** max |a − b| over a tensor ≤ 1e-5 · max |a|, for every tensor; and training moved the weights. */
    private static void assertClose(Map<String, float[]> want, Map<String, float[]> got, Map<String, float[]> start) {
        assertEquals(want.keySet(), got.keySet());
        double moved = 0;
        for (Map.Entry<String, float[]> e : want.entrySet()) {
            float[] w = e.getValue();
            float[] g = got.get(e.getKey());
            double maxAbs = 0;
            double maxDiff = 0;
            for (int i = 0; i < w.length; i++) {
                maxAbs = Math.max(maxAbs, Math.abs(w[i]));
                maxDiff = Math.max(maxDiff, Math.abs(w[i] - g[i]));
                moved = Math.max(moved, Math.abs(w[i] - start.get(e.getKey())[i]));
            }
            assertTrue(maxDiff <= 1e-5 * maxAbs, e.getKey() + ": " + maxDiff + " of " + maxAbs);
        }
        assertTrue(moved > 1e-3, "training changed the weights: " + moved);
    }

    @Test
    void preferenceTrainingReachesTheSameWeights(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        Map<String, float[]> start;
        try (CausalLM lm = CausalLM.load(model, PreferenceTrainerTest.TRAIN)) {
            start = SftTrainerTest.weights(lm);
        }
        for (String loss : List.of("dpo", "kto")) {
            assertClose(preference(model, loss, false), preference(model, loss, true), start);
        }
    }

    @Test
    void sftReachesTheSameWeightsAndLeavesNoArrays() throws Exception {
        List<SftTrainer.Example> data = SftTrainerTest.corpus(12, 2, true);
        TrainConfig plain = SftTrainerTest.cfg("max_steps", 6, "gradient_accumulation_steps", 2);
        Map<String, float[]> want;
        Map<String, float[]> start;
        try (CausalLM lm = CausalLM.init(SyntheticTask.config(), 5, SftTrainerTest.TRAIN)) {
            start = SftTrainerTest.weights(lm);
            SftTrainer.train(lm, data, plain, null);
            want = SftTrainerTest.weights(lm);
        }
        try (CausalLM lm = CausalLM.init(SyntheticTask.config(), 5, SftTrainerTest.TRAIN)) {
            SftTrainer.train(lm, data, plain.with("gradient_checkpointing", true, "test"), null);
            assertClose(want, SftTrainerTest.weights(lm), start);
            int before = lm.liveArrays();
            SftTrainer.train(lm, data, SftTrainerTest.cfg("max_steps", 3, "gradient_checkpointing", true), null);
            assertEquals(before, lm.liveArrays(), "saved layer inputs and recomputed activations are freed");
        }
    }
}
