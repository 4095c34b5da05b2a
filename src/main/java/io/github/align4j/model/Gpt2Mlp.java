package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;

/** GPT-2 feed-forward: {@code gelu_new(x·W_fc + b_fc)·W_proj + b_proj}, Conv1D weights [in, out]. */
final class Gpt2Mlp extends Layer {
    private static final float SQRT_2_OVER_PI = (float) Math.sqrt(2.0 / Math.PI);
    private final Parameter fcW;
    private final Parameter fcB;
    private final Parameter projW;
    private final Parameter projB;

    Gpt2Mlp(String prefix, Registry r, ModelConfig c) {
        super(prefix, r);
        int e = c.hiddenSize();
        int i = c.intermediateSize();
        fcW = param("c_fc.weight", e, i);
        fcB = param("c_fc.bias", i);
        projW = param("c_proj.weight", i, e);
        projB = param("c_proj.bias", e);
    }

    NDArray forward(NDArray x) {
        return geluNew(x.matMul(w(fcW)).add(w(fcB))).matMul(w(projW)).add(w(projB));
    }

    /** gelu_new, the tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
    static NDArray geluNew(NDArray x) {
        NDArray inner = x.mul(x).mul(x).mul(0.044715f).add(x).mul(SQRT_2_OVER_PI);
        return x.mul(inner.tanh().add(1f)).mul(0.5f);
    }
}
