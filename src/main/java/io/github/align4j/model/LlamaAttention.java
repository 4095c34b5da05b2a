package io.github.align4j.model;

import ai.djl.ndarray.NDArray;

/**
 * Causal self-attention with rotary positions and grouped-query heads (Llama, Mistral, Qwen2):
 * <pre>
 *   q, k, v = x·Wqᵀ (+bq), x·Wkᵀ (+bk), x·Wvᵀ (+bv)        H query heads, KV key/value heads, rep = H / KV
 *   q, k    = rope(q) / √D, rope(k)
 *   a       = softmax(q·kᵀ + mask) · v                     query head h reads kv head h / rep
 *   out     = a·Woᵀ (+bo)
 * </pre>
 * The rep query heads that share a kv head are stacked along the time axis ([B, KV, rep·T, D]) so
 * that keys and values are never copied rep times.
 */
final class LlamaAttention extends Layer {
    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final Linear oProj;
    private final int heads;
    private final int kvHeads;
    private final int rep;
    private final int headDim;
    private final int window;
    private final int layer;

    LlamaAttention(String prefix, Registry r, ModelConfig c, int layer) {
        super(prefix, r);
        this.layer = layer;
        heads = c.numHeads();
        kvHeads = c.numKvHeads();
        rep = heads / kvHeads;
        headDim = c.headDim();
        window = layer >= c.slidingFromLayer() ? c.slidingWindow() : 0;
        int e = c.hiddenSize();
        Linear[] p = linears(
                new Linear.Spec("q_proj", (long) heads * headDim, e, c.qkvBias()),
                new Linear.Spec("k_proj", (long) kvHeads * headDim, e, c.qkvBias()),
                new Linear.Spec("v_proj", (long) kvHeads * headDim, e, c.qkvBias()),
                new Linear.Spec("o_proj", e, (long) heads * headDim, c.outputBias()));
        qProj = p[0];
        kProj = p[1];
        vProj = p[2];
        oProj = p[3];
    }

    NDArray forward(NDArray x, Pass p, Rope.Slice rope) { // [B, T, E] → [B, T, E]
        long b = p.batch;
        long t = p.length;
        NDArray q0 = qProj.forward(x);
        NDArray q1 = q0.reshape(b, t, kvHeads, rep, headDim);
        NDArray q2 = q1.transpose(0, 2, 3, 1, 4); // [B, KV, rep, T, D] (a view)
        NDArray q3 = Rope.apply(q2, rope.cosQ(), rope.sinQ()); // scaled by 1/√D
        NDArray q = q3.reshape(b, kvHeads, rep * t, headDim);
        Ops.free(q0, q1, q2, q3);
        NDArray k0 = kProj.forward(x);
        NDArray k1 = k0.reshape(b, t, kvHeads, headDim);
        NDArray k2 = k1.transpose(0, 2, 1, 3); // [B, KV, T, D]
        NDArray k = Rope.apply(k2, rope.cos(), rope.sin());
        NDArray v0 = vProj.forward(x);
        NDArray v1 = v0.reshape(b, t, kvHeads, headDim);
        NDArray v = v1.transpose(0, 2, 1, 3); // [B, KV, T, D]
        Ops.free(k0, k1, k2, v0, v1);
        NDArray o = CausalAttention.attend(q, k, v, layer, window, p); // [B, KV, rep·T, D]
        NDArray o1 = o.reshape(b, kvHeads, rep, t, headDim);
        NDArray o2 = o1.transpose(0, 3, 1, 2, 4);
        NDArray a = o2.reshape(b, t, (long) heads * headDim);
        Ops.free(o, o1, o2);
        NDArray out = oProj.forward(a);
        Ops.free(a);
        return out;
    }
}
