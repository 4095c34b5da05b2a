package io.github.align4j.model;

import ai.djl.ndarray.NDArray;

/**
 * One Llama-family block (transformers' {@code LlamaDecoderLayer}), pre-norm:
 * <pre>
 *   x = x + self_attn(input_layernorm(x), rope)       RMSNorm, rotary grouped-query attention
 *   x = x + mlp(post_attention_layernorm(x))           RMSNorm, SwiGLU
 * </pre>
 */
final class LlamaDecoderLayer extends Layer {
    private final RmsNorm inputNorm;
    private final LlamaAttention attention;
    private final RmsNorm postAttentionNorm;
    private final LlamaMlp mlp;

    LlamaDecoderLayer(String prefix, Registry r, ModelConfig c, int index) {
        super(prefix, r);
        inputNorm = child("input_layernorm", new RmsNorm(prefix + "input_layernorm.", r, c.hiddenSize(), c.normEps()));
        attention = child("self_attn", new LlamaAttention(prefix + "self_attn.", r, c, index));
        postAttentionNorm = child("post_attention_layernorm",
                new RmsNorm(prefix + "post_attention_layernorm.", r, c.hiddenSize(), c.normEps()));
        mlp = child("mlp", new LlamaMlp(prefix + "mlp.", r, c));
    }

    /**
     * [B, T, E] → [B, T, E]; x stays the caller's. The residual adds go in place into the block
     * outputs (whose producers' backward does not need them), intermediates are freed at once.
     */
    NDArray forward(NDArray x, Pass p, Rope.Slice rope) {
        NDArray h = inputNorm.forward(x);
        NDArray mid = attention.forward(h, p, rope).addi(x);
        Ops.free(h);
        h = postAttentionNorm.forward(mid);
        NDArray out = mlp.forward(h).addi(mid);
        Ops.free(h, mid);
        return out;
    }
}
