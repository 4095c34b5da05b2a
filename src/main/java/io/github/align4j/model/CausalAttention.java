package io.github.align4j.model;

import ai.djl.ndarray.NDArray;

/**
 * The part of attention every family shares, once q, k and v are made:
 * <pre>
 *   k, v = cache ++ (k, v)                       when a KV cache is extended
 *   o    = softmax(q·kᵀ + mask) · v              q already scaled by 1/√D
 * </pre>
 * Queries that read the same key/value head are stacked along the time axis: q is
 * [B, KV, rep·T, D] for k and v [B, KV, T, D] (rep = 1 without grouped heads), so keys and values
 * are never copied rep times.
 *
 * <p>A full causal pass (no cache, no sliding window shorter than the sequence) of long rows, or on a
 * GPU, runs as one fused kernel instead ({@link FusedAttention}, chosen by
 * {@code FusedAttentionSwitch}): the same values without the [B, H, T, T] scores in memory. So does a
 * packed pass ({@link Packing}), with its mask given to the kernel.
 */
final class CausalAttention {
    private CausalAttention() {}

    /**
     * @param q [B, KV, rep·T, D], freed here
     * @param k [B, KV, T, D], owned by the cache from here on when there is one, else freed here
     * @param v like k
     * @param layer the layer's index in the KV cache
     * @param window sliding-window size, 0 for full causal attention
     * @return o [B, KV, rep·T, D]
     */
    static NDArray attend(NDArray q, NDArray k, NDArray v, int layer, int window, Pass p) {
        boolean causal = p.packing == null && p.cache == null && p.offset == 0 && (window == 0 || p.length <= window);
        if ((causal || p.packing != null) && p.fusedAttention) {
            long[] s = q.getShape().getShape();
            long[] ks = k.getShape().getShape();
            long rep = s[2] / ks[2];
            NDArray byHead = q.reshape(s[0], s[1] * rep, ks[2], s[3]); // [B, KV·rep, T, D]: head h = kv h / rep
            NDArray o;
            if (causal) {
                o = FusedAttention.attend(byHead, k, v);
            } else {
                NDArray mask = p.mask(window); // [B, 1, 1, T, T]
                NDArray byRow = mask.reshape(s[0], 1, ks[2], ks[2]);
                o = FusedAttention.attend(byHead, k, v, byRow);
                Ops.free(mask, byRow);
            }
            Ops.free(byHead);
            if (o != null) {
                NDArray stacked = o.reshape(s); // [B, KV, rep·T, D], as the materialized path returns it
                Ops.free(o, q, k, v);
                return stacked;
            }
        }
        if (p.cache != null) {
            k = p.cache.append(layer, k, true);
            v = p.cache.append(layer, v, false);
        }
        NDArray kt = k.transpose(0, 1, 3, 2);
        NDArray scores = q.matMul(kt); // [B, KV, rep·T, T_keys]
        Ops.free(kt, q);
        NDArray mask = p.mask(window); // [T, T_keys] (packed: [B, 1, 1, T, T]), the same for the rep heads stacked along time
        if (mask != null) {
            long[] s = scores.getShape().getShape();
            NDArray byHead = scores.reshape(s[0], s[1], s[2] / p.length, p.length, s[3]); // a view of scores
            byHead.addi(mask); // in place: the product's backward needs only its inputs
            Ops.free(byHead, mask);
        }
        NDArray probs = scores.softmax(-1);
        Ops.free(scores);
        NDArray o = probs.matMul(v);
        Ops.free(probs);
        if (p.cache == null) {
            Ops.free(k, v);
        }
        return o;
    }
}
