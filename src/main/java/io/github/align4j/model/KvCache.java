package io.github.align4j.model;

import ai.djl.ndarray.NDArray;

/**
 * Keys and values of earlier positions, per layer, so that generation computes each new token
 * with one query row instead of re-running the whole prefix. Arrays are [B, KV, T, D] and belong
 * to the generation's manager.
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
        store[layer] = all;
        return all;
    }

    /** Positions already cached. */
    public long length() {
        return length;
    }
}
