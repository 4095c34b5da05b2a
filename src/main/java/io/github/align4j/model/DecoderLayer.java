package io.github.align4j.model;

import ai.djl.ndarray.NDArray;

/**
 * One pre-norm transformer block: {@code x += attn(norm1(x)); x += mlp(norm2(x))}.
 * Llama family: RMSNorm, rotary GQA attention, SwiGLU; GPT-2: LayerNorm, Conv1D attention, gelu_new.
 */
final class DecoderLayer extends Layer {
    private final Norm norm1;
    private final Norm norm2;
    private final Attention attention;
    private final Mlp mlp;
    private final Gpt2Attention gpt2Attention;
    private final Gpt2Mlp gpt2Mlp;

    DecoderLayer(String prefix, Registry r, ModelConfig c, int index) {
        super(prefix, r);
        if (c.isGpt2()) {
            norm1 = child("ln_1", new Norm(prefix + "ln_1.", r, c.hiddenSize(), c.normEps(), true));
            gpt2Attention = child("attn", new Gpt2Attention(prefix + "attn.", r, c, index));
            norm2 = child("ln_2", new Norm(prefix + "ln_2.", r, c.hiddenSize(), c.normEps(), true));
            gpt2Mlp = child("mlp", new Gpt2Mlp(prefix + "mlp.", r, c));
            attention = null;
            mlp = null;
        } else {
            norm1 = child("input_layernorm", new Norm(prefix + "input_layernorm.", r, c.hiddenSize(), c.normEps(), false));
            attention = child("self_attn", new Attention(prefix + "self_attn.", r, c, index));
            norm2 = child("post_attention_layernorm",
                    new Norm(prefix + "post_attention_layernorm.", r, c.hiddenSize(), c.normEps(), false));
            mlp = child("mlp", new Mlp(prefix + "mlp.", r, c));
            gpt2Attention = null;
            gpt2Mlp = null;
        }
    }

    /**
     * [B, T, E] → [B, T, E]; x stays the caller's. The residual adds go in place into the block
     * outputs (whose producers' backward does not need them), intermediates are freed at once.
     */
    NDArray forward(NDArray x, Pass p) {
        NDArray h = norm1.forward(x);
        NDArray mid = (attention != null ? attention.forward(h, p) : gpt2Attention.forward(h, p)).addi(x);
        Ops.free(h);
        h = norm2.forward(mid);
        NDArray out = (mlp != null ? mlp.forward(h) : gpt2Mlp.forward(h)).addi(mid);
        Ops.free(h, mid);
        return out;
    }
}
