package io.github.align4j.train;

import ai.djl.ndarray.NDManager;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.model.CausalLM;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * How one kind of data (pairs or unpaired examples) becomes model inputs, losses and metrics: one
 * implementation per {@link PreferenceLoss.DataKind}, used for training and for evaluation alike.
 */
interface Batching {
    /**
     * What a micro-batch is scored with.
     *
     * @param ldAlpha LD-DPO's α ({@code ld_alpha}; 1: plain sums), pairs only
     * @param useWeighting WPO's per-pair weights ({@code use_weighting}), pairs only
     */
    record Scoring(CausalLM policy, PreferenceLoss loss, double beta, Reference reference, double ldAlpha,
            boolean useWeighting) {
        Scoring(CausalLM policy, PreferenceLoss loss, double beta, Reference reference) {
            this(policy, loss, beta, reference, 1, false);
        }
    }

    int size();

    /** The longest sequence of example i (length grouping). */
    int lengthOf(int i);

    /** Example i's 0-based row in the data file. */
    long row(int i);

    /** Feeds the tokens of every example, in order, to a fingerprint. */
    void fingerprint(Consumer<int[]> feed);

    /** Every (prompt, completion) the reference is asked for when scoring all examples once. */
    void referenceRequests(BiConsumer<int[], int[]> f);

    /**
     * One training micro-batch inside a gradient collector: forward, loss, backward of
     * {@code mean loss / divisor}; adds the metrics to w.
     *
     * @return whether the loss was finite
     */
    boolean train(Scoring s, NDManager mgr, int[] rows, Window w, int divisor);

    /** One evaluation batch without a graph: metrics (and the loss when it fits this data) into w. */
    void evaluate(Scoring s, NDManager mgr, int[] rows, Window w);

    /** Rows {@code from, from+1, ..., from+n-1}. */
    static int[] range(int from, int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            r[i] = from + i;
        }
        return r;
    }
}
