package io.github.align4j.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/** The shared test batch: B = 2 pairs, β = 0.1; goldens come from float64 arithmetic. */
final class Fixtures {
    static final double BETA = 0.1;

    private Fixtures() {}

    /** πc=[-10,-8], πr=[-12,-7], ρc=[-11,-8.5], ρr=[-11.5,-7.2], |yc|=[5,4], |yr|=[6,3]. */
    static PairedLogps pairs(NDManager m) {
        return new PairedLogps(
                f(m, -10, -8), f(m, -12, -7), f(m, -11, -8.5), f(m, -11.5, -7.2), f(m, 5, 4), f(m, 6, 3));
    }

    /** KTO batch: labels [T,F,T,F], mismatched pairs with mean log-ratio z = 0.25. */
    static UnpairedLogps unpaired(NDManager m) {
        return new UnpairedLogps(
                f(m, -10, -12, -8, -7),
                f(m, -11, -11.5, -8.5, -7.2),
                f(m, 5, 6, 4, 3),
                f(m, 1, 0, 1, 0),
                f(m, -20, -15, -18, -16),
                f(m, -20.5, -15.2, -17.9, -16.4));
    }

    static NDArray f(NDManager m, double... v) {
        float[] x = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            x[i] = (float) v[i];
        }
        return m.create(x);
    }

    /** The mean loss as a double. */
    static double mean(LossOutput out) {
        return out.losses().mean().getFloat();
    }

    /** float32 result against a float64 golden, 1e-6 relative. */
    static void assertClose(double golden, double actual) {
        assertEquals(golden, actual, 1e-6 * Math.abs(golden));
    }
}
