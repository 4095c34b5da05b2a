package io.github.align4j.train;

import java.util.List;
import java.util.function.IntFunction;

/**
 * Where the data order stands: the epoch, its micro-batches and the next one to train. An
 * optimizer step never takes micro-batches of two epochs: the last step of an epoch takes what is
 * left of it (transformers ≥ 4.46 does the same), so every example is trained once per epoch.
 */
final class Position {
    private final IntFunction<List<int[]>> epochBatches;
    int epoch;
    /** Micro-batches of {@link #epoch} already trained; equal to the epoch's size once it is done. */
    int next;
    long microDone;
    List<int[]> batches;

    /** @param epochBatches the micro-batches (row indices) of an epoch, in order */
    Position(IntFunction<List<int[]>> epochBatches) {
        this.epochBatches = epochBatches;
        this.batches = epochBatches.apply(0);
    }

    /** Recomputes the current epoch's batches after {@link #epoch} was set (a resume). */
    void seek() {
        batches = epochBatches.apply(epoch);
    }

    int microPerEpoch() {
        return batches.size();
    }

    /**
     * Epochs done, fractional: finished epochs plus the share of the current epoch's micro-batches
     * trained (transformers' {@code epoch + (step + 1) / steps_in_epoch}); a whole number at the end
     * of every epoch.
     */
    double epochs() {
        return epoch + (double) next / batches.size();
    }

    /**
     * How many micro-batches the next optimizer step takes: {@code accumulation}, or fewer when the
     * epoch has fewer left (its last, shorter step).
     */
    int stepSize(int accumulation) {
        int left = next == batches.size() ? batches.size() : batches.size() - next;
        return Math.min(accumulation, left);
    }

    int[] nextBatch() {
        if (next == batches.size()) {
            epoch++;
            batches = epochBatches.apply(epoch);
            next = 0;
        }
        microDone++;
        return batches.get(next++);
    }

    /** Optimizer steps of one epoch of {@code microPerEpoch} micro-batches: ⌈micro / accumulation⌉, at least 1. */
    static long stepsPerEpoch(long microPerEpoch, int accumulation) {
        return Math.max(1, (microPerEpoch + accumulation - 1) / accumulation);
    }

    /**
     * Optimizer steps of a run: {@code max_steps} when set, else
     * ⌈num_train_epochs × ⌈micro-batches per epoch / accumulation⌉⌉ — transformers' formula, which
     * keeps fractional epochs (1.5 epochs of 7 steps: 11 steps).
     */
    static long totalSteps(long examples, int batchSize, int accumulation, double epochs, long maxSteps) {
        if (maxSteps > 0) {
            return maxSteps;
        }
        long micro = (examples + batchSize - 1) / batchSize;
        return Math.max(1, (long) Math.ceil(epochs * stepsPerEpoch(micro, accumulation)));
    }
}
