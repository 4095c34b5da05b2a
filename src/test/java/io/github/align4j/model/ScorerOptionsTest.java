package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.internal.Offline;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The scorer's LD-DPO sums and WPO aligned means against an independent float64 computation from
 * the model's full logits.
 */
class ScorerOptionsTest {
    static {
        Offline.ensure();
    }

    /** Per completion token of one row, in float64 from the full logits: {log p_t, log Σ_v p_v²}. */
    private static double[][] perToken(CausalLM lm, NDManager m, int[] row, int start) {
        long[] ids = java.util.Arrays.stream(row).asLongStream().toArray();
        float[] logits = lm.logits(m.create(ids, new Shape(1, ids.length))).toFloatArray();
        int v = lm.config().vocabSize();
        double[][] out = new double[row.length - start][2];
        for (int t = start; t < row.length; t++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int k = 0; k < v; k++) {
                max = Math.max(max, logits[(t - 1) * v + k]);
            }
            double z = 0;
            double z2 = 0;
            double max2 = 2 * max;
            for (int k = 0; k < v; k++) {
                z += Math.exp(logits[(t - 1) * v + k] - max);
                z2 += Math.exp(2 * logits[(t - 1) * v + k] - max2);
            }
            double lse = max + Math.log(z);
            double lse2 = max2 + Math.log(z2);
            out[t - start][0] = logits[(t - 1) * v + row[t]] - lse;
            out[t - start][1] = lse2 - 2 * lse; // logsumexp(2·logits) − 2·logsumexp(logits)
        }
        return out;
    }

    @Test
    void wpoAlignedMeansMatchFloat64FromTheLogits() throws Exception {
        for (ModelConfig c : new ModelConfig[] {CausalLMTest.tinyLlama(false), CausalLMTest.tinyGpt2()}) {
            try (CausalLM lm = CausalLM.init(c, 11, CausalLM.Options.inference().withDevice(Device.cpu()));
                    NDManager m = lm.manager().newSubManager()) {
                int[][] rows = CausalLMTest.randomRows(new Random(5), new int[] {9, 6, 12, 7});
                int[] starts = {3, 2, 6, 6};
                SequenceScorer.Scores plain = SequenceScorer.score(lm, m, rows, starts);
                assertNull(plain.alignedMeans(), "not asked for: not computed");
                SequenceScorer.Scores sc = SequenceScorer.score(lm, m, rows, starts, new SequenceScorer.Options(null, 1, true));
                float[] got = sc.alignedMeans().toFloatArray();
                assertArrayEquals(plain.logps().toFloatArray(), sc.logps().toFloatArray(), 0f, "the sums are unchanged");
                for (int i = 0; i < rows.length; i++) {
                    double[][] pt = perToken(lm, m, rows[i], starts[i]);
                    double mean = 0;
                    for (double[] p : pt) {
                        mean += p[0] - p[1];
                    }
                    mean /= pt.length;
                    assertEquals(mean, got[i], 1e-5 * Math.max(1, Math.abs(mean)), c.modelType() + " row " + i);
                }
                // a row's weight depends on the row alone
                SequenceScorer.Scores alone = SequenceScorer.score(lm, m, new int[][] {rows[2]}, new int[] {starts[2]},
                        new SequenceScorer.Options(null, 1, true));
                assertEquals(got[2], alone.alignedMeans().getFloat(0), 1e-6);
            }
        }
    }

    @Test
    void ldSumsAreFrontPlusAlphaTimesRearByHand() throws Exception {
        try (CausalLM lm = CausalLM.init(CausalLMTest.tinyLlama(true), 3, CausalLM.Options.inference().withDevice(Device.cpu()));
                NDManager m = lm.manager().newSubManager()) {
            int[][] rows = CausalLMTest.randomRows(new Random(9), new int[] {10, 8, 11, 6});
            int[] starts = {4, 2, 3, 5};
            int[] full = {2, 6, 0, 1}; // row 1: every token counts fully; row 2: none does
            double alpha = 0.3;
            float[] got = SequenceScorer.score(lm, m, rows, starts, new SequenceScorer.Options(full, alpha, false))
                    .logps().toFloatArray();
            float[] plain = SequenceScorer.score(lm, m, rows, starts).logps().toFloatArray();
            for (int i = 0; i < rows.length; i++) {
                double[][] pt = perToken(lm, m, rows[i], starts[i]);
                double front = 0;
                double rear = 0;
                for (int t = 0; t < pt.length; t++) {
                    if (t < full[i]) {
                        front += pt[t][0];
                    } else {
                        rear += pt[t][0];
                    }
                }
                double want = front + alpha * rear;
                assertEquals(want, got[i], 1e-5 * Math.abs(want), "row " + i);
            }
            assertEquals(plain[1], got[1], 1e-6, "all tokens within the public length: the plain sum");
            assertTrue(Math.abs(got[0] - plain[0]) > 0.1, "the rear tokens count less");
            float[] one = SequenceScorer.score(lm, m, rows, starts, new SequenceScorer.Options(full, 1, false))
                    .logps().toFloatArray();
            assertArrayEquals(plain, one, 0f, "α = 1 is the plain sum");
        }
    }
}
