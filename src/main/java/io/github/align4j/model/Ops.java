package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Linear;
import io.github.align4j.internal.Scalars;

/**
 * The few fused libtorch ops the decoder uses, with the caller's array always first (ownership).
 * Arithmetic with a Java number and arrays built from Java data go through {@link Scalars}, which
 * keeps them alive for autograd (see its comment).
 */
final class Ops {
    private Ops() {}

    /** x·Wᵀ + b (torch.nn.functional.linear); W is [out, in], b may be null. */
    static NDArray linear(NDArray x, NDArray w, NDArray b) {
        return (b == null ? Linear.linear(x, w) : Linear.linear(x, w, b)).singletonOrThrow();
    }

    /**
     * {@code w} in {@code like}'s precision: w itself when they match, else a converted copy (the
     * caller frees it). Frozen float16 weights meet float32 activations this way, one tensor at a time.
     */
    static NDArray as(NDArray w, NDArray like) {
        return w.getDataType() == like.getDataType() ? w : w.toType(like.getDataType(), false);
    }

    /**
     * {@code a} converted to {@code type}: a itself when it already is, else a converted copy, and
     * a is freed (an embedding lookup of float16 rows becomes float32 activations this way).
     */
    static NDArray to(NDArray a, DataType type) {
        if (a.getDataType() == type) {
            return a;
        }
        NDArray c = a.toType(type, false);
        a.close();
        return c;
    }

    /** x·s in place, safe under autograd (the scalar is made as {@link Scalars} makes it). */
    static NDArray timesInPlace(NDArray x, float s) {
        try (NDArray c = Scalars.of(x, s)) {
            return x.muli(c);
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
