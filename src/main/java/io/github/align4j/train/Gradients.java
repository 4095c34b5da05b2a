package io.github.align4j.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Map;

/** Gradient bookkeeping shared by the preference and SFT loops. */
final class Gradients {
    private Gradients() {}

    /** ‖g‖ over all parameters: one fused norm per gradient (no squared copy), the norm of those, read once. */
    static float norm(Map<String, NDArray> params) {
        NDList norms = new NDList(params.size());
        for (NDArray p : params.values()) {
            norms.add(p.getGradient().norm());
        }
        return NDArrays.stack(norms).norm().getFloat();
    }

    /** The factor that brings the global norm down to maxNorm (torch's clip_grad_norm_), 1 when it is under. */
    static float clipScale(float norm, double maxNorm) {
        return maxNorm > 0 && norm > maxNorm ? (float) (maxNorm / (norm + 1e-6)) : 1f;
    }

    /** grad.zero_() for every parameter: one native call each (also clears NaN and ∞). */
    static void zero(Map<String, NDArray> params) {
        for (NDArray p : params.values()) {
            JniUtils.zeroGrad((PtNDArray) p);
        }
    }
}
