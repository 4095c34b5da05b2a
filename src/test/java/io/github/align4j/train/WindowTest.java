package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.SequenceScorer;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The logged averages, hand-computed, with micro-batches of unequal size (where the two ways of averaging differ). */
class WindowTest {
    static {
        Offline.ensure();
    }

    private static SequenceScorer.Scores scores(NDManager m, float[] logps, float[] tokens, float[] logitSums) {
        return new SequenceScorer.Scores(m.create(logps), m.create(tokens), m.create(logitSums));
    }

    private static double d(Map<String, Object> r, String k) {
        return ((Number) r.get(k)).doubleValue();
    }

    /**
     * Pairs as TRL's DPOTrainer logs them: the mean of the micro-batch means. A micro-batch of two
     * pairs and one of one pair (β 0.5, no reference: rewards are β·logps).
     */
    @Test
    void pairsAverageMicroBatchMeans() {
        try (NDManager m = NDManager.newBaseManager()) {
            Window step = new Window();
            // chosen logps −2, −4; rejected −3, −1 → rewards chosen −1, −2 (mean −1.5), rejected −1.5, −0.5 (mean −1)
            step.addPaired(0.6f, scores(m, new float[] {-2, -4, -3, -1}, new float[] {1, 1, 2, 2}, new float[] {2, 4, 6, 8}),
                    null, 2, 0.5, Map.of(), 10);
            // chosen −10, rejected −6 → rewards −5, −3
            step.addPaired(0.2f, scores(m, new float[] {-10, -6}, new float[] {5, 1}, new float[] {10, 0}), null, 1, 0.5,
                    Map.of(), 6);
            Window w = new Window();
            w.addAll(step);
            Window second = new Window();
            second.addPaired(1.0f, scores(m, new float[] {-2, -2}, new float[] {1, 1}, new float[] {0, 0}), null, 1, 0.5,
                    Map.of(), 2);
            Window one = new Window();
            one.addAll(step);
            Map<String, Object> r = one.flush(1e-3, 1, 0.5, 0);
            assertEquals(-3.25, d(r, "rewards/chosen"), 1e-12, "(−1.5 + −5) / 2; per example it would be −8/3");
            assertEquals(-2.0, d(r, "rewards/rejected"), 1e-12, "(−1 + −3) / 2");
            assertEquals(0.25, d(r, "rewards/accuracies"), 1e-12, "(1/2 + 0) / 2; per example 1/3");
            assertEquals(-1.25, d(r, "rewards/margins"), 1e-12, "(−0.5 + −2) / 2");
            assertEquals(-6.5, d(r, "logps/chosen"), 1e-12, "(−3 + −10) / 2");
            assertEquals(-4.0, d(r, "logps/rejected"), 1e-12, "(−2 + −6) / 2");
            assertEquals(2.5, d(r, "logits/chosen"), 1e-12, "(6/2 + 10/5) / 2");
            assertEquals(1.75, d(r, "logits/rejected"), 1e-12, "(14/4 + 0/1) / 2");
            assertEquals(0.4, d(r, "loss"), 1e-7, "the step's mean micro-batch loss");
            w.addAll(second);
            assertEquals(0.7, d(w.flush(1e-3, 2, 1, 0), "loss"), 1e-7,
                    "mean over steps of the steps' losses (0.4, 1.0); per micro-batch it would be 0.6");
        }
    }

    /** Unpaired examples as TRL's current KTOTrainer logs them: sums over the window's examples over their counts. */
    @Test
    void unpairedAveragePerExample() {
        try (NDManager m = NDManager.newBaseManager()) {
            Window w = new Window();
            NDArray kl1 = m.create(0.3f);
            NDArray kl2 = m.create(0.1f);
            w.addUnpaired(0.5f, scores(m, new float[] {-2, -4, -6}, new float[] {1, 1, 1}, new float[] {1, 2, 3}), null,
                    new float[] {1, 1, 0}, 1.0, Map.of("kl", kl1), 3);
            w.addUnpaired(0.1f, scores(m, new float[] {-8}, new float[] {2}, new float[] {4}), null, new float[] {1}, 1.0,
                    Map.of("kl", kl2), 2);
            Map<String, Object> r = w.flush(Double.NaN, 0, 0, 0);
            assertEquals(-14.0 / 3, d(r, "rewards/chosen"), 1e-12, "(−2 − 4 − 8) / 3; micro-batch means would give −5.5");
            assertEquals(-6.0, d(r, "rewards/rejected"), 1e-12);
            assertEquals(-14.0 / 3 + 6, d(r, "rewards/margins"), 1e-12, "chosen − rejected");
            assertEquals(-14.0 / 3, d(r, "logps/chosen"), 1e-12);
            assertEquals(7.0 / 4, d(r, "logits/chosen"), 1e-12, "logit sums over tokens: (1 + 2 + 4) / (1 + 1 + 2)");
            assertEquals(0.2, d(r, "kl"), 1e-7, "loss metrics: the mean over micro-batches");
            assertEquals(0.3, d(r, "loss"), 1e-7);
        }
    }
}
