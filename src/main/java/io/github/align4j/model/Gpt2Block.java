package io.github.align4j.model;

import ai.djl.ndarray.NDArray;

/**
 * One GPT-2 block (transformers' {@code GPT2Block}), pre-norm:
 * <pre>
 *   x = x + attn(ln_1(x))      LayerNorm, Conv1D multi-head attention
 *   x = x + mlp(ln_2(x))       LayerNorm, gelu_new MLP
 * </pre>
 */
final class Gpt2Block extends Layer {
    private final LayerNorm ln1;
    private final Gpt2Attention attn;
    private final LayerNorm ln2;
    private final Gpt2Mlp mlp;

    Gpt2Block(String prefix, Registry r, ModelConfig c, int index) {
        super(prefix, r);
        ln1 = child("ln_1", new LayerNorm(prefix + "ln_1.", r, c.hiddenSize(), c.normEps()));
        attn = child("attn", new Gpt2Attention(prefix + "attn.", r, c, index));
        ln2 = child("ln_2", new LayerNorm(prefix + "ln_2.", r, c.hiddenSize(), c.normEps()));
        mlp = child("mlp", new Gpt2Mlp(prefix + "mlp.", r, c));
    }

    /** [B, T, E] → [B, T, E]; x stays the caller's, residual adds in place as in {@link LlamaDecoderLayer}. */
    NDArray forward(NDArray x, Pass p) {
        NDArray h = ln1.forward(x);
        NDArray mid = attn.forward(h, p).addi(x);
        Ops.free(h);
        h = ln2.forward(mid);
        NDArray out = mlp.forward(h).addi(mid);
        Ops.free(h, mid);
        return out;
    }
}
