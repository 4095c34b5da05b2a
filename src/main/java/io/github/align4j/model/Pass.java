package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import java.util.HashMap;
import java.util.Map;

/**
 * What every layer of one forward pass shares: the batch and sequence sizes, the position offset
 * (non-zero when extending a KV cache), the rotary tables and the cached additive attention masks.
 */
final class Pass {
    final NDManager manager;
    final long batch;
    final long length;
    final long offset;
    final NDArray cos;
    final NDArray sin;
    final NDArray cosQ;
    final NDArray sinQ;
    final KvCache cache;
    private final Masks masks;

    Pass(NDManager manager, long batch, long length, long offset, Rope rope, Masks masks, KvCache cache) {
        this.manager = manager;
        this.batch = batch;
        this.length = length;
        this.offset = offset;
        this.masks = masks;
        this.cache = cache;
        if (rope != null) {
            NDArray[] t = rope.tables(offset, length, manager);
            cos = t[0];
            sin = t[1];
            cosQ = t[2];
            sinQ = t[3];
        } else {
            cos = sin = cosQ = sinQ = null;
        }
    }

    /** Additive mask [rep·T, offset+T]: 0 where query i may see key j, −∞ elsewhere; null if none needed. */
    NDArray mask(int rep, int window) {
        return masks.get(length, offset, rep, window);
    }

    /**
     * Causal (and sliding-window) additive masks, cached on the model's manager. Right padding
     * needs no key mask: with a causal mask a real token never sees a pad that follows it.
     */
    static final class Masks {
        private final NDManager manager;
        private final Map<String, NDArray> cache = new HashMap<>();

        Masks(NDManager manager) {
            this.manager = manager;
        }

        synchronized NDArray get(long length, long offset, int rep, int window) {
            long keys = offset + length;
            boolean windowBites = window > 0 && keys > window;
            if (length == 1 && !windowBites) {
                return null; // one new token sees every cached key
            }
            String key = length + "/" + offset + "/" + rep + "/" + (windowBites ? window : 0);
            NDArray m = cache.get(key);
            if (m == null) {
                if (cache.size() > 256) {
                    cache.values().forEach(NDArray::close);
                    cache.clear();
                }
                float[] a = new float[(int) (rep * length * keys)];
                for (int r = 0; r < rep; r++) {
                    for (int i = 0; i < length; i++) {
                        long p = offset + i; // absolute position of query i
                        for (int j = 0; j < keys; j++) {
                            boolean visible = j <= p && (!windowBites || p - j < window);
                            a[(int) (((long) r * length + i) * keys + j)] = visible ? 0f : Float.NEGATIVE_INFINITY;
                        }
                    }
                }
                m = manager.create(a, new Shape(rep * length, keys));
                NDScope.unregister(m);
                cache.put(key, m);
            }
            return m;
        }
    }
}
