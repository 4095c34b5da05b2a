package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;

/** LayerNorm with bias (GPT-2): {@code (x − mean) / sqrt(var + ε) · g + b}, over the last axis. */
final class LayerNorm extends Layer {
    private final Parameter weight;
    private final Parameter bias;
    private final float eps;
    private final Shape normalized;

    LayerNorm(String prefix, Registry r, int size, double eps) {
        super(prefix, r);
        this.eps = (float) eps;
        this.normalized = new Shape(size);
        weight = param("weight", size);
        bias = param("bias", size);
    }

    NDArray forward(NDArray x) { // [B, T, E] → [B, T, E]
        NDArray g = Ops.as(w(weight), x); // float16 weights are converted for this pass only
        NDArray b = Ops.as(w(bias), x);
        NDArray out = ai.djl.nn.norm.LayerNorm.layerNorm(x, normalized, g, b, eps).singletonOrThrow();
        Ops.free(g == w(weight) ? null : g, b == w(bias) ? null : b);
        return out;
    }
}
