package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import io.github.align4j.internal.Scalars;

/** RMSNorm (Llama family): {@code x / sqrt(mean(x²) + ε) · g}, over the last axis. */
final class RmsNorm extends Layer {
    private final Parameter weight;
    private final float eps;

    RmsNorm(String prefix, Registry r, int size, double eps) {
        super(prefix, r);
        this.eps = (float) eps;
        weight = param("weight", size);
    }

    NDArray forward(NDArray x) { // [B, T, E] → [B, T, E]
        NDArray sq = x.square();
        NDArray ms = sq.mean(new int[] {-1}, true); // [..., 1]
        Ops.free(sq);
        NDArray inv = Scalars.pow(ms.addi(eps), -0.5f); // in place: mean's backward does not need its output
        Ops.free(ms);
        NDArray y = x.mul(inv);
        Ops.free(inv);
        NDArray g = Ops.as(w(weight), y); // a float16 weight is converted for this product only
        NDArray out = y.mul(g);
        Ops.free(y, g == w(weight) ? null : g);
        return out;
    }
}
