package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Parameter;

/**
 * GPT-2 causal self-attention. Its projections are Conv1D, stored [in, out]:
 * <pre>
 *   q, k, v = split(x·W_attn + b_attn, 3)      W_attn [E, 3E]
 *   a       = softmax(q·kᵀ / √D + mask) · v
 *   out     = a·W_proj + b_proj               W_proj [E, E]
 * </pre>
 */
final class Gpt2Attention extends Layer {
    private final Parameter attnW;
    private final Parameter attnB;
    private final Parameter projW;
    private final Parameter projB;
    private final int heads;
    private final int headDim;
    private final float scale;
    private final int layer;

    Gpt2Attention(String prefix, Registry r, ModelConfig c, int layer) {
        super(prefix, r);
        this.layer = layer;
        int e = c.hiddenSize();
        heads = c.numHeads();
        headDim = c.headDim();
        scale = (float) (1.0 / Math.sqrt(headDim));
        attnW = param("c_attn.weight", e, 3L * e);
        attnB = param("c_attn.bias", 3L * e);
        projW = param("c_proj.weight", e, e);
        projB = param("c_proj.bias", e);
    }

    NDArray forward(NDArray x, Pass p) { // [B, T, E] → [B, T, E]
        long b = p.batch;
        long t = p.length;
        NDList qkv = x.matMul(w(attnW)).add(w(attnB)).split(3, 2); // DJL split needs a non-negative axis
        NDArray q = qkv.get(0).mul(scale).reshape(b, t, heads, headDim).transpose(0, 2, 1, 3); // [B, H, T, D]
        NDArray k = qkv.get(1).reshape(b, t, heads, headDim).transpose(0, 2, 1, 3);
        NDArray v = qkv.get(2).reshape(b, t, heads, headDim).transpose(0, 2, 1, 3);
        if (p.cache != null) {
            k = p.cache.append(layer, k, true);
            v = p.cache.append(layer, v, false);
        }
        NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)); // [B, H, T, T_keys]
        NDArray mask = p.mask(1, 0);
        if (mask != null) {
            scores = scores.add(mask);
        }
        NDArray a = scores.softmax(-1).matMul(v).transpose(0, 2, 1, 3).reshape(b, t, (long) heads * headDim);
        return a.matMul(w(projW)).add(w(projB));
    }
}
