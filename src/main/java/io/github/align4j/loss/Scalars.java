package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;

/**
 * Arithmetic with a Java number that stays correct under autograd; use it in your own losses.
 *
 * <p>DJL's {@code NDArray.mul(Number)}, {@code div}, {@code pow}, {@code maximum} and {@code minimum} (and their
 * in-place forms) wrap the number in a tensor over a Java direct buffer and close that tensor before returning.
 * Autograd keeps it for backward; once the garbage collector reclaims the buffer, backward reads whatever was
 * written there since: silently wrong gradients, or an "index out of bounds" error from deep inside libtorch.
 * These helpers make the scalar in libtorch-owned memory instead. {@code add} and {@code sub} with a number are
 * safe as they are (their backward needs no operand). The same holds for arrays you build from Java data with
 * {@code manager.create(float[])}: keep them open until the step ends, or pass them through {@link #owned}.
 * align4j's trainer keeps such memory alive from forward to backward, but other code does not;
 * {@link LossChecks} detects a loss that depends on it.
 *
 * <p>The implementation lives below both {@code loss} and {@code model} (the model uses it too and knows nothing
 * of losses); this class is its public face for your losses.
 */
public final class Scalars {
    private Scalars() {}

    /** A 0-d tensor holding {@code value}, of {@code like}'s type and device, in memory libtorch owns. */
    public static NDArray of(NDArray like, double value) {
        return io.github.align4j.internal.Scalars.of(like, value);
    }

    /** x · s. */
    public static NDArray times(NDArray x, double s) {
        return io.github.align4j.internal.Scalars.times(x, s);
    }

    /** x / s. */
    public static NDArray divide(NDArray x, double s) {
        return io.github.align4j.internal.Scalars.divide(x, s);
    }

    /** x ^ e. */
    public static NDArray pow(NDArray x, double e) {
        return io.github.align4j.internal.Scalars.pow(x, e);
    }

    /** max(x, s), elementwise. */
    public static NDArray maximum(NDArray x, double s) {
        return io.github.align4j.internal.Scalars.maximum(x, s);
    }

    /** min(x, s), elementwise. */
    public static NDArray minimum(NDArray x, double s) {
        return io.github.align4j.internal.Scalars.minimum(x, s);
    }

    /**
     * A copy of {@code aliased} (typically fresh from {@code manager.create(javaArray)}) in memory libtorch owns;
     * the original is closed. The copy may be closed at any time, even before backward.
     */
    public static NDArray owned(NDArray aliased) {
        return io.github.align4j.internal.Scalars.owned(aliased);
    }
}
