package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;

/** SwiGLU feed-forward (Llama family): {@code down(silu(gate(x)) ⊙ up(x))}. */
final class Mlp extends Layer {
    private final Parameter gate;
    private final Parameter up;
    private final Parameter down;
    private final Parameter gateBias;
    private final Parameter upBias;
    private final Parameter downBias;

    Mlp(String prefix, Registry r, ModelConfig c) {
        super(prefix, r);
        int e = c.hiddenSize();
        int i = c.intermediateSize();
        gate = param("gate_proj.weight", i, e);
        up = param("up_proj.weight", i, e);
        down = param("down_proj.weight", e, i);
        gateBias = c.mlpBias() ? param("gate_proj.bias", i) : null;
        upBias = c.mlpBias() ? param("up_proj.bias", i) : null;
        downBias = c.mlpBias() ? param("down_proj.bias", e) : null;
    }

    NDArray forward(NDArray x) { // [B, T, E] → [B, T, E]
        NDArray pre = Ops.linear(x, w(gate), gateBias == null ? null : w(gateBias));
        NDArray g = Ops.silu(pre);
        Ops.free(pre);
        NDArray u = Ops.linear(x, w(up), upBias == null ? null : w(upBias));
        NDArray h = g.mul(u);
        Ops.free(g, u);
        NDArray out = Ops.linear(h, w(down), downBias == null ? null : w(downBias));
        Ops.free(h);
        return out;
    }
}
