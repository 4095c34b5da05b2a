package io.github.align4j.train.internal;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.IntUnaryOperator;

/**
 * The order of examples: one list of micro-batches (example indices) per epoch, seeded and
 * reproducible. With {@code shuffle} the examples are permuted every epoch; with
 * {@code groupByLength} they are sorted by length inside windows of 64 micro-batches and the
 * resulting batches are shuffled, which cuts padding without giving up randomness.
 */
public final class Batches {
    private Batches() {}

    /**
     * @param n number of examples
     * @param batch micro-batch size (the last, smaller batch of an epoch is kept)
     * @param length the padded length an example needs (for grouping)
     */
    public static List<int[]> epoch(int n, int batch, long seed, int epoch, boolean shuffle, boolean groupByLength,
            IntUnaryOperator length) {
        List<Integer> order = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            order.add(i);
        }
        Random rng = new Random(seed * 1_000_003L + epoch);
        if (shuffle) {
            Collections.shuffle(order, rng);
        }
        if (groupByLength) {
            int window = batch * 64;
            for (int s = 0; s < n; s += window) {
                List<Integer> w = order.subList(s, Math.min(n, s + window));
                w.sort((a, b) -> Integer.compare(length.applyAsInt(b), length.applyAsInt(a)));
            }
        }
        List<int[]> batches = new ArrayList<>();
        for (int s = 0; s < n; s += batch) {
            int e = Math.min(n, s + batch);
            int[] b = new int[e - s];
            for (int i = s; i < e; i++) {
                b[i - s] = order.get(i);
            }
            batches.add(b);
        }
        if (groupByLength && shuffle) {
            Collections.shuffle(batches, rng);
        }
        return batches;
    }

    /** Σ over batches of (rows · longest row) − Σ real tokens, over Σ rows · longest: the padding share. */
    static double paddingFraction(List<int[]> batches, IntUnaryOperator length) {
        long padded = 0;
        long real = 0;
        for (int[] b : batches) {
            int max = 0;
            for (int i : b) {
                max = Math.max(max, length.applyAsInt(i));
                real += length.applyAsInt(i);
            }
            padded += (long) max * b.length;
        }
        return padded == 0 ? 0 : 1.0 - (double) real / padded;
    }
}
