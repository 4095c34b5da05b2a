package io.github.align4j.train;

import java.util.List;
import java.util.function.IntFunction;

/** Where the data order stands: the epoch, its micro-batches and the next one to train. */
final class Position {
    private final IntFunction<List<int[]>> epochBatches;
    int epoch;
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

    /** Epochs done, fractional: micro-batches trained over micro-batches per epoch. */
    double epochs() {
        return (double) microDone / batches.size();
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
}
