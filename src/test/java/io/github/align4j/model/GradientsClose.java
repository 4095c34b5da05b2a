package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

/** Two runs' gradients by weight name, compared weight by weight relative to each weight's largest gradient. */
final class GradientsClose {
    private GradientsClose() {}

    /**
     * Asserts the same weights, each within {@code rel} × its largest |gradient| of {@code want}'s, and that every
     * weight has a non-zero gradient (so that the comparison compared something).
     */
    static void assertClose(Map<String, float[]> want, Map<String, float[]> got, double rel) {
        assertEquals(want.size(), compare(want, got, rel, ""), "every weight has a gradient");
    }

    /**
     * Asserts the same weights, finite gradients in {@code got}, each within {@code rel} × its largest |gradient|
     * of {@code want}'s.
     *
     * @return how many weights have a non-zero gradient in {@code want}
     */
    static int compare(Map<String, float[]> want, Map<String, float[]> got, double rel, String what) {
        assertEquals(want.keySet(), got.keySet());
        int nonZero = 0;
        for (Map.Entry<String, float[]> e : want.entrySet()) {
            float[] w = e.getValue();
            float[] g = got.get(e.getKey());
            double maxAbs = 0;
            double maxDiff = 0;
            for (int i = 0; i < w.length; i++) {
                maxAbs = Math.max(maxAbs, Math.abs(w[i]));
                maxDiff = Math.max(maxDiff, Math.abs(w[i] - g[i]));
                assertTrue(Float.isFinite(g[i]), what + " " + e.getKey());
            }
            nonZero += maxAbs > 0 ? 1 : 0;
            assertTrue(maxDiff <= rel * maxAbs, what + " " + e.getKey() + ": max diff " + maxDiff + " of max " + maxAbs);
        }
        return nonZero;
    }
}
