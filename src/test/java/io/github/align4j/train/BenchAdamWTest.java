package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.github.align4j.internal.Offline;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The fused AdamW update that the benchmark work introduced (one native call per parameter, bias
 * correction folded into its constants, clipping folded into a gradient scale) must do exactly what
 * torch.optim.AdamW does: checked against a float64 transcription of torch's formulas over several
 * steps, with decoupled decay on a weight but not on a norm, and a clipping scale.
 */
class BenchAdamWTest {
    static {
        Offline.ensure();
    }

    @Test
    void fusedUpdateMatchesTorchAdamW() {
        double lr = 1e-2;
        double b1 = 0.9;
        double b2 = 0.999;
        double eps = 1e-3; // large enough that where ε enters (after bias correction) shows
        double wd = 0.1;
        float[] w0 = {0.5f, -1.25f, 2f, 0.0625f};
        float[] n0 = {1f, 0.75f};
        float[][] gradsW = {{0.1f, -0.2f, 0.3f, 1e-4f}, {-0.5f, 0.4f, 0.0f, 2f}, {0.05f, 0.05f, -0.05f, -3f}};
        float[][] gradsN = {{1f, -1f}, {0.25f, 0.5f}, {-2f, 1e-3f}};
        float[] scales = {1f, 0.5f, 0.125f};
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.create(w0);
            NDArray n = m.create(n0);
            w.setRequiresGradient(true);
            n.setRequiresGradient(true);
            Map<String, NDArray> params = new LinkedHashMap<>();
            params.put("model.layers.0.mlp.up_proj.weight", w);
            params.put("model.layers.0.input_layernorm.weight", n);
            AdamW opt = new AdamW(params, b1, b2, eps, wd);
            double[][] ref = {toDouble(w0), toDouble(n0)};
            double[][] mm = {new double[4], new double[2]};
            double[][] vv = {new double[4], new double[2]};
            for (int s = 0; s < 3; s++) {
                try (NDManager step = m.newSubManager()) {
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray loss = w.mul(step.create(gradsW[s])).sum().add(n.mul(step.create(gradsN[s])).sum());
                        gc.backward(loss); // d loss / d w = gradsW[s], d loss / d n = gradsN[s]
                    }
                }
                opt.step(lr, scales[s]);
                try (NDArray g = w.getGradient()) { // the clipping scale must not touch the gradients
                    assertClose(toDouble(gradsW[s]), g.toFloatArray(), "gradient after the update");
                }
                for (NDArray p : params.values()) {
                    ai.djl.pytorch.jni.JniUtils.zeroGrad((ai.djl.pytorch.engine.PtNDArray) p);
                }
                float[][] g = {gradsW[s], gradsN[s]};
                boolean[] decays = {true, false};
                int t = s + 1;
                for (int k = 0; k < 2; k++) { // torch.optim.AdamW, single-tensor path
                    for (int i = 0; i < ref[k].length; i++) {
                        double gi = g[k][i] * (double) scales[s];
                        if (decays[k]) {
                            ref[k][i] *= 1 - lr * wd;
                        }
                        mm[k][i] = b1 * mm[k][i] + (1 - b1) * gi;
                        vv[k][i] = b2 * vv[k][i] + (1 - b2) * gi * gi;
                        double denom = Math.sqrt(vv[k][i]) / Math.sqrt(1 - Math.pow(b2, t)) + eps;
                        ref[k][i] -= lr / (1 - Math.pow(b1, t)) * mm[k][i] / denom;
                    }
                }
            }
            assertClose(ref[0], w.toFloatArray(), "decayed weight");
            assertClose(ref[1], n.toFloatArray(), "norm weight (no decay)");
            assertClose(mm[0], opt.firstMoments().get("model.layers.0.mlp.up_proj.weight").toFloatArray(), "exp_avg");
            assertClose(vv[0], opt.secondMoments().get("model.layers.0.mlp.up_proj.weight").toFloatArray(), "exp_avg_sq");
            assertEquals(3, opt.steps());
        }
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    private static void assertClose(double[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-6 + 1e-5 * Math.abs(want[i]), what + "[" + i + "]");
        }
    }
}
