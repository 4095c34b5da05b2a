package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Linear;

/** The few fused libtorch ops the decoder uses, with the caller's array always first (ownership). */
final class Ops {
    private Ops() {}

    /** x·Wᵀ + b (torch.nn.functional.linear); W is [out, in], b may be null. */
    static NDArray linear(NDArray x, NDArray w, NDArray b) {
        return (b == null ? Linear.linear(x, w) : Linear.linear(x, w, b)).singletonOrThrow();
    }

    /**
     * A copy of {@code aliased} in memory libtorch owns; the original is closed. DJL's {@code create(javaArray)}
     * gives libtorch a view of a direct buffer that is freed at the next garbage collection once its NDArray is
     * closed, even while autograd still holds the tensor for backward (embedding and gather indices, a matmul
     * operand, a slice of a rotary table): backward then reads freed memory. Everything built from Java data that
     * can enter a graph, or outlive its NDArray through a view, goes through here.
     */
    static NDArray owned(NDArray aliased) {
        NDArray copy = aliased.duplicate();
        aliased.close();
        return copy;
    }

    /**
     * A 0-d tensor of x's type in libtorch memory. DJL's mul/div/pow with a Number build the scalar the
     * aliasing way (see owned) and close it at once, though autograd keeps it for backward.
     */
    private static NDArray scalar(NDArray like, float v) {
        return like.getManager().full(new Shape(), v, like.getDataType());
    }

    /** x·s, safe under autograd. */
    static NDArray times(NDArray x, float s) {
        try (NDArray c = scalar(x, s)) {
            return x.mul(c);
        }
    }

    /** x·s in place, safe under autograd. */
    static NDArray timesInPlace(NDArray x, float s) {
        try (NDArray c = scalar(x, s)) {
            return x.muli(c);
        }
    }

    /** x^e, safe under autograd. */
    static NDArray pow(NDArray x, float e) {
        try (NDArray c = scalar(x, e)) {
            return x.pow(c);
        }
    }

    /** Rows of {@code table} at {@code ids}: an index_select with autograd into the table. */
    static NDArray rows(NDArray ids, NDArray table) {
        return ids.getNDArrayInternal().embedding(ids, table, SparseFormat.DENSE).singletonOrThrow();
    }

    /** silu(x) = x·σ(x). */
    static NDArray silu(NDArray x) {
        NDArray sig = x.getNDArrayInternal().sigmoid();
        NDArray out = x.mul(sig);
        sig.close();
        return out;
    }

    /**
     * Drops the Java handles of intermediates the forward pass is done with. Autograd keeps its
     * own references to what backward needs, so this frees exactly what PyTorch's reference
     * counting frees in Python; without it every intermediate of a step (attention scores, MLP
     * activations, one copy per op) stays alive until the step's scope closes, which multiplies
     * the activation memory several times over.
     */
    static void free(NDArray... arrays) {
        for (NDArray a : arrays) {
            if (a != null) {
                a.close();
            }
        }
    }
}
