package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.internal.Scalars;
import io.github.align4j.model.internal.FusedAttentionSwitch;
import io.github.align4j.model.internal.ModelDtypes;
import java.util.HashMap;
import java.util.Map;

/**
 * What every layer of one forward pass shares, whatever the family: the batch and sequence sizes,
 * the position offset (non-zero when extending a KV cache), the cache and the additive attention masks.
 */
final class Pass {
    final NDManager manager;
    final long batch;
    final long length;
    final long offset;
    /** Keys and values of earlier positions, extended in place; null for a full pass. */
    final KvCache cache;
    /** The activations' type: FLOAT32, or FLOAT16 for a float16 model on a GPU ({@link ModelDtypes#computeType}). */
    final DataType compute;
    /** Whether this pass trains (grad mode was on when it began): LoRA dropout applies only then. */
    final boolean training;
    /**
     * This pass's number since the model's dropout key was set: with the key and a module's index it
     * seeds that module's dropout mask, so a recomputation of a layer must reuse its Pass.
     */
    final long id;
    private final Masks masks;
    /** Whether a full causal pass runs attention as one fused kernel ({@link FusedAttentionSwitch#fusedFor}). */
    final boolean fusedAttention;
    /** The rows' packed layout (prompts shared by two completions), or null: positions 0..T−1, plain causal. */
    final Packing packing;
    /** A packed pass's masks by window size, made once and shared by its layers (and their recomputation). */
    private final Map<Integer, NDArray> packedMasks = new HashMap<>();

    Pass(NDManager manager, long batch, long length, long offset, Masks masks, KvCache cache, boolean training, long id,
            DataType compute) {
        this(manager, batch, length, offset, masks, cache, training, id, compute, null);
    }

    Pass(NDManager manager, long batch, long length, long offset, Masks masks, KvCache cache, boolean training, long id,
            DataType compute, Packing packing) {
        this.packing = packing;
        this.manager = manager;
        this.compute = compute;
        this.training = training;
        this.id = id;
        this.batch = batch;
        this.length = length;
        this.offset = offset;
        this.masks = masks;
        this.fusedAttention = FusedAttentionSwitch.fusedFor(length, manager.getDevice().isGpu());
        this.cache = cache;
    }

    /**
     * Additive mask [T, offset+T]: 0 where query i may see key j, −∞ elsewhere; null if none is needed. A packed
     * pass's mask is [B, 1, 1, T, T] ({@link Packing#mask}). Either way the caller owns (and frees) what it gets.
     */
    NDArray mask(int window) {
        if (packing != null) {
            NDArray m = packedMask(window);
            return m.reshape(m.getShape()); // a view of its own, so that freeing it leaves the pass's mask
        }
        return masks.get(length, offset, window, manager);
    }

    /** A packed pass's additive mask [B, 1, 1, T, T] for {@code window}, kept by the pass (freed with its manager). */
    synchronized NDArray packedMask(int window) {
        int w = window > 0 && packing.span() > window ? window : 0;
        return packedMasks.computeIfAbsent(w, k -> packing.mask(manager, k, compute));
    }

    /**
     * Causal (and sliding-window) additive masks: one square table per window size on the model's
     * manager, grown by doubling to the longest sequence seen; each pass slices the rows and
     * columns it needs into its own manager. Right padding needs no key mask: with a causal mask a
     * real token never sees a pad that follows it.
     */
    static final class Masks {
        private final NDManager manager;
        private final Map<Integer, NDArray> tables = new HashMap<>();
        private final Map<Integer, Long> capacity = new HashMap<>();

        Masks(NDManager manager) {
            this.manager = manager;
        }

        synchronized NDArray get(long length, long offset, int window, NDManager caller) {
            long keys = offset + length;
            int w = window > 0 && keys > window ? window : 0;
            if (length == 1 && w == 0) {
                return null; // one new token sees every cached key
            }
            long cap = capacity.getOrDefault(w, 0L);
            if (cap < keys) {
                NDArray old = tables.remove(w);
                if (old != null) {
                    old.close();
                }
                cap = Math.max(2 * cap, Math.max(keys, 64));
                float[] a = new float[Math.toIntExact(cap * cap)];
                for (int p = 0; p < cap; p++) { // query at absolute position p, key at j
                    for (int j = 0; j < cap; j++) {
                        boolean visible = j <= p && (w == 0 || p - j < w);
                        a[p * (int) cap + j] = visible ? 0f : Float.NEGATIVE_INFINITY;
                    }
                }
                NDArray m = Scalars.owned(manager.create(a, new Shape(cap, cap)));
                NDScope.unregister(m);
                tables.put(w, m);
                capacity.put(w, cap);
            }
            NDArray view = tables.get(w).get(new ai.djl.ndarray.index.NDIndex("{}:{}, 0:{}", offset, keys, keys));
            view.attach(caller);
            return view;
        }
    }
}
