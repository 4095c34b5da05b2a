package io.github.align4j.model;

import ai.djl.ndarray.NDArray;

/** SwiGLU feed-forward (Llama family): {@code down(silu(gate(x)) ⊙ up(x))}. */
final class LlamaMlp extends Layer {
    private final Linear gateProj;
    private final Linear upProj;
    private final Linear downProj;

    LlamaMlp(String prefix, Registry r, ModelConfig c) {
        super(prefix, r);
        int e = c.hiddenSize();
        int i = c.intermediateSize();
        Linear[] p = linears(
                new Linear.Spec("gate_proj", i, e, c.mlpBias()),
                new Linear.Spec("up_proj", i, e, c.mlpBias()),
                new Linear.Spec("down_proj", e, i, c.mlpBias()));
        gateProj = p[0];
        upProj = p[1];
        downProj = p[2];
    }

    NDArray forward(NDArray x) { // [B, T, E] → [B, T, E]
        NDArray pre = gateProj.forward(x);
        NDArray g = Ops.silu(pre);
        Ops.free(pre);
        NDArray u = upProj.forward(x);
        NDArray h = g.mul(u);
        Ops.free(g, u);
        NDArray out = downProj.forward(h);
        Ops.free(h);
        return out;
    }
}
