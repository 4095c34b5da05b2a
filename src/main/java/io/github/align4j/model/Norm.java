package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.norm.LayerNorm;
import io.github.align4j.loss.Scalars;

/**
 * RMSNorm (Llama family): {@code x / sqrt(mean(x²) + ε) · g}; or LayerNorm with bias (GPT-2):
 * {@code (x − mean) / sqrt(var + ε) · g + b}.
 */
final class Norm extends Layer {
    private final Parameter weight;
    private final Parameter bias;
    private final float eps;
    private final Shape normalized;

    Norm(String prefix, Registry r, int size, double eps, boolean layerNorm) {
        super(prefix, r);
        this.eps = (float) eps;
        this.normalized = new Shape(size);
        weight = param("weight", size);
        bias = layerNorm ? param("bias", size) : null;
    }

    NDArray forward(NDArray x) { // [B, T, E] → [B, T, E]
        if (bias != null) {
            return LayerNorm.layerNorm(x, normalized, w(weight), w(bias), eps).singletonOrThrow();
        }
        NDArray sq = x.square();
        NDArray ms = sq.mean(new int[] {-1}, true); // [..., 1]
        Ops.free(sq);
        NDArray inv = Scalars.pow(ms.addi(eps), -0.5f); // in place: mean's backward does not need its output
        Ops.free(ms);
        NDArray y = x.mul(inv);
        Ops.free(inv);
        NDArray out = y.mul(w(weight));
        Ops.free(y);
        return out;
    }
}
