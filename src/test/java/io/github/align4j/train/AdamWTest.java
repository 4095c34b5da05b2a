package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Scalars;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** AdamW against torch.optim.AdamW's update worked by hand in double precision. */
class AdamWTest {
    static {
        Offline.ensure();
    }

    @Test
    void twoStepsMatchTorchFormula() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.create(new float[] {0.5f, -1.0f});
            NDArray b = m.create(new float[] {0.25f});
            w.setRequiresGradient(true);
            b.setRequiresGradient(true);
            Map<String, NDArray> params = new LinkedHashMap<>();
            params.put("layer.weight", w);
            params.put("layer.bias", b);
            double lr = 0.1;
            double wd = 0.5;
            double b1 = 0.9;
            double b2 = 0.999;
            double eps = 1e-8;
            AdamW opt = new AdamW(params, b1, b2, eps, wd);
            double[] x = {0.5, -1.0, 0.25};
            double[] mm = new double[3];
            double[] vv = new double[3];
            for (int step = 1; step <= 2; step++) {
                // loss = Σ w² · step + 3b  → g_w = 2w·step, g_b = 3
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    gc.backward(Scalars.times(w.square().sum(), step).add(Scalars.times(b, 3).sum()));
                }
                double[] g = {2 * x[0] * step, 2 * x[1] * step, 3};
                opt.step(lr);
                for (int i = 0; i < 3; i++) {
                    if (i < 2) {
                        x[i] *= 1 - lr * wd; // decoupled decay, not on the bias
                    }
                    mm[i] = b1 * mm[i] + (1 - b1) * g[i];
                    vv[i] = b2 * vv[i] + (1 - b2) * g[i] * g[i];
                    double mh = mm[i] / (1 - Math.pow(b1, step));
                    double vh = vv[i] / (1 - Math.pow(b2, step));
                    x[i] -= lr * mh / (Math.sqrt(vh) + eps);
                }
                for (NDArray p : params.values()) {
                    p.getGradient().subi(p.getGradient());
                }
                assertEquals(x[0], w.getFloat(0), 1e-6);
                assertEquals(x[1], w.getFloat(1), 1e-6);
                assertEquals(x[2], b.getFloat(0), 1e-6);
            }
        }
    }

    /** Zeroing gradients also clears NaN and infinity (fill, not subtract), so a skipped step leaves no poison. */
    @Test
    void zeroGradientsClearsNonFinite() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.create(new float[] {1f, 2f});
            w.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(w.log().mul(m.create(new float[] {Float.NaN, Float.POSITIVE_INFINITY})).sum());
            }
            Gradients.zero(Map.of("w", w));
            assertEquals(0f, w.getGradient().getFloat(0));
            assertEquals(0f, w.getGradient().getFloat(1));
        }
    }
}
