package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Linear;

/** The few fused libtorch ops the decoder uses, with the caller's array always first (ownership). */
final class Ops {
    private Ops() {}

    /** x·Wᵀ + b (torch.nn.functional.linear); W is [out, in], b may be null. */
    static NDArray linear(NDArray x, NDArray w, NDArray b) {
        return (b == null ? Linear.linear(x, w) : Linear.linear(x, w, b)).singletonOrThrow();
    }

    /** Rows of {@code table} at {@code ids}: an index_select with autograd into the table. */
    static NDArray rows(NDArray ids, NDArray table) {
        return ids.getNDArrayInternal().embedding(ids, table, SparseFormat.DENSE).singletonOrThrow();
    }

    /** silu(x) = x·σ(x). */
    static NDArray silu(NDArray x) {
        return x.mul(x.getNDArrayInternal().sigmoid());
    }
}
