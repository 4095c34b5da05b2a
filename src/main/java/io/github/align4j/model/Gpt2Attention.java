package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import io.github.align4j.internal.Scalars;

/**
 * GPT-2 causal self-attention. Its projections are Conv1D, stored [in, out]:
 * <pre>
 *   q, k, v = split(x·W_attn + b_attn, 3)      W_attn [E, 3E]
 *   a       = softmax(q·kᵀ / √D + mask) · v
 *   out     = a·W_proj + b_proj               W_proj [E, E]
 * </pre>
 */
final class Gpt2Attention extends Layer {
    private final Linear cAttn;
    private final Linear cProj;
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
        cAttn = conv1d("c_attn", e, 3L * e);
        cProj = conv1d("c_proj", e, e);
    }

    NDArray forward(NDArray x, Pass p) { // [B, T, E] → [B, T, E]
        long b = p.batch;
        long t = p.length;
        NDArray fused = cAttn.forward(x);
        NDList qkv = fused.split(3, 2); // DJL split needs a non-negative axis
        Ops.free(fused);
        NDArray qs = Scalars.times(qkv.get(0), scale);
        NDArray q1 = qs.reshape(b, t, heads, headDim);
        NDArray q = q1.transpose(0, 2, 1, 3); // [B, H, T, D]
        NDArray k1 = qkv.get(1).reshape(b, t, heads, headDim);
        NDArray k = k1.transpose(0, 2, 1, 3);
        NDArray v1 = qkv.get(2).reshape(b, t, heads, headDim);
        NDArray v = v1.transpose(0, 2, 1, 3);
        qkv.close();
        Ops.free(qs, q1, k1, v1);
        NDArray o = CausalAttention.attend(q, k, v, layer, 0, p); // [B, H, T, D]
        NDArray o1 = o.transpose(0, 2, 1, 3);
        NDArray a = o1.reshape(b, t, (long) heads * headDim);
        Ops.free(o, o1);
        NDArray out = cProj.forward(a);
        Ops.free(a);
        return out;
    }
}
