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

    /**
     * A matrix above {@link AdamW#sliceBytes} is updated in slices of rows (views of the weight, its gradient and
     * moments): the same values bit for bit as one update of the whole, over three steps with clipping's scale.
     */
    @Test
    void slicedUpdateEqualsTheWholeBitForBit() {
        long saved = AdamW.sliceBytes;
        try (NDManager m = NDManager.newBaseManager()) {
            float[][] result = new float[2][];
            for (int run = 0; run < 2; run++) {
                AdamW.sliceBytes = run == 0 ? Long.MAX_VALUE : 7 * 12 * 4; // 37 × 12 floats: slices of 7 rows
                m.getEngine().setRandomSeed(5);
                NDArray w = m.randomNormal(new ai.djl.ndarray.types.Shape(37, 12));
                NDArray target = m.randomNormal(new ai.djl.ndarray.types.Shape(37, 12));
                w.setRequiresGradient(true);
                Map<String, NDArray> params = Map.of("proj.weight", w);
                assertEquals(run == 0 ? 0 : 7, AdamW.sliceRows(w));
                AdamW opt = new AdamW(params, 0.9, 0.999, 1e-8, 0.1);
                for (int step = 1; step <= 3; step++) {
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        gc.backward(w.sub(target).pow(3).sum());
                    }
                    opt.step(0.05, step == 2 ? 0.5f : 1f);
                    Gradients.zero(params);
                }
                float[] all = new float[37 * 12 * 3];
                System.arraycopy(w.toFloatArray(), 0, all, 0, 444);
                System.arraycopy(opt.firstMoments().get("proj.weight").toFloatArray(), 0, all, 444, 444);
                System.arraycopy(opt.secondMoments().get("proj.weight").toFloatArray(), 0, all, 888, 444);
                result[run] = all;
            }
            for (int i = 0; i < result[0].length; i++) {
                assertEquals(Float.floatToIntBits(result[0][i]), Float.floatToIntBits(result[1][i]), "value " + i);
            }
            assertEquals(true, result[0][888] > 0, "the second moment moved");
        } finally {
            AdamW.sliceBytes = saved;
        }
    }
}
