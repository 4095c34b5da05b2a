package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The token draw against probabilities known by hand. */
class SamplerTest {
    static int[] counts(float[] logits, SamplingOptions o, int draws) {
        Sampler s = new Sampler(logits.length, o);
        Random r = new Random(1);
        int[] c = new int[logits.length];
        for (int i = 0; i < draws; i++) {
            c[s.pick(logits, 0, r)]++;
        }
        return c;
    }

    @Test
    void greedyTakesTheFirstMaximum() {
        Sampler s = new Sampler(4, SamplingOptions.greedy(1));
        assertEquals(1, s.pick(new float[] {0, 3, 3, -1}, 0, new Random(0)));
        assertEquals(3, s.pick(new float[] {9, 9, 0, 1, 5, 7}, 2, new Random(0)), "reads logits from the offset");
    }

    /** logits (0, ln 3): p = (¼, ¾) at T = 1, and (½·…) flatter at T = 2: p₁ = √3 / (1 + √3). */
    @Test
    void temperatureScalesTheLogits() {
        float[] l = {0f, (float) Math.log(3)};
        int[] c = counts(l, SamplingOptions.sampling(1, 1.0), 40_000);
        assertEquals(0.75, c[1] / 40_000.0, 0.01);
        c = counts(l, SamplingOptions.sampling(1, 2.0), 40_000);
        assertEquals(Math.sqrt(3) / (1 + Math.sqrt(3)), c[1] / 40_000.0, 0.01);
    }

    /** p = (0.5, 0.3, 0.2) in shuffled order: top-k 2 drops the 0.2; top-p 0.75 keeps 0.5 + 0.3; top-p 0.5 keeps one. */
    @Test
    void topKAndTopPCutTheTail() {
        float[] l = {(float) Math.log(0.2), (float) Math.log(0.5), (float) Math.log(0.3)};
        int[] c = counts(l, new SamplingOptions(1, 1.0, 1.0, 2, 0, 1), 40_000);
        assertEquals(0, c[0]);
        assertEquals(0.5 / 0.8, c[1] / 40_000.0, 0.01);
        c = counts(l, new SamplingOptions(1, 1.0, 0.75, 0, 0, 1), 40_000);
        assertEquals(0, c[0]);
        assertEquals(0.5 / 0.8, c[1] / 40_000.0, 0.01);
        c = counts(l, new SamplingOptions(1, 1.0, 0.5, 0, 0, 1), 1000);
        assertEquals(1000, c[1]);
        c = counts(l, new SamplingOptions(1, 1.0, 1.0, 0, 0, 1), 40_000);
        assertEquals(0.2, c[0] / 40_000.0, 0.01);
        assertTrue(c[2] > 0);
    }

    /** −∞ logits (masked tokens) are never drawn. */
    @Test
    void minusInfinityIsNeverDrawn() {
        float[] l = {Float.NEGATIVE_INFINITY, 0f, Float.NEGATIVE_INFINITY, 0f};
        int[] c = counts(l, SamplingOptions.sampling(1, 0.7), 5000);
        assertEquals(0, c[0] + c[2]);
        int[] k = counts(l, new SamplingOptions(1, 1.0, 0.9, 3, 0, 1), 5000);
        assertEquals(0, k[0] + k[2]);
    }
}
