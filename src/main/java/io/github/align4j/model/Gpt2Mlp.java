package io.github.align4j.model;

import ai.djl.ndarray.NDArray;

/** GPT-2 feed-forward: {@code gelu_new(x·W_fc + b_fc)·W_proj + b_proj}, Conv1D weights [in, out]. */
final class Gpt2Mlp extends Layer {
    private static final float SQRT_2_OVER_PI = (float) Math.sqrt(2.0 / Math.PI);
    private final Linear cFc;
    private final Linear cProj;

    Gpt2Mlp(String prefix, Registry r, ModelConfig c) {
        super(prefix, r);
        int e = c.hiddenSize();
        int i = c.intermediateSize();
        cFc = conv1d("c_fc", e, i);
        cProj = conv1d("c_proj", i, e);
    }

    NDArray forward(NDArray x) {
        NDArray h = cFc.forward(x);
        NDArray g = geluNew(h);
        NDArray out = cProj.forward(g);
        Ops.free(h, g);
        return out;
    }

    /** gelu_new, the tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
    static NDArray geluNew(NDArray x) {
        NDArray x2 = x.mul(x);
        NDArray x3 = x2.mul(x);
        NDArray inner = Ops.timesInPlace(Ops.timesInPlace(x3, 0.044715f).addi(x), SQRT_2_OVER_PI); // in place on x³: mul's backward keeps x², x
        NDArray th = inner.tanh();
        NDArray one = th.add(1f); // not in place: tanh's backward needs its output
        NDArray out = Ops.timesInPlace(x.mul(one), 0.5f);
        Ops.free(x2, x3, th, one);
        return out;
    }
}
