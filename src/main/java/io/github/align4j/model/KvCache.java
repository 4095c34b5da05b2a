package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;

/**
 * Keys and values of earlier positions, per layer, so that generation computes each new token
 * with one query row instead of re-running the whole prefix. Arrays are [B, KV, T, D] and belong
 * to the generation's manager; they are never registered in an {@link NDScope}, so a step may run
 * inside a scope that frees its temporaries while the cache survives.
 */
public final class KvCache {
    final NDArray[] keys;
    final NDArray[] values;
    long length;

    KvCache(int layers) {
        keys = new NDArray[layers];
        values = new NDArray[layers];
    }

    /** Appends this step's keys (or values) [B, KV, T, D] for a layer and returns all of them. */
    NDArray append(int layer, NDArray x, boolean key) {
        NDArray[] store = key ? keys : values;
        NDArray previous = store[layer];
        NDArray all = previous == null ? x : previous.concat(x, 2);
        if (previous != null) {
            previous.close();
        }
        // Kept out of any NDScope: generation wraps each step in a scope that must free the step's
        // temporaries but not the cache, which lives until the next append or the manager closes.
        NDScope.unregister(all);
        store[layer] = all;
        return all;
    }

    /** Positions already cached. */
    public long length() {
        return length;
    }
}
