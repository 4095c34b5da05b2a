package io.github.align4j.internal;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * Arithmetic with a Java number that stays correct under autograd, for align4j's own packages (the model
 * uses it, and it knows nothing of losses). Its public face is the loss package's {@code Scalars}, which
 * explains why: DJL's {@code NDArray.mul(Number)} and friends close the scalar tensor (over a Java direct
 * buffer) that autograd keeps for backward; these helpers make it in memory libtorch owns.
 */
public final class Scalars {
    private Scalars() {}

    /** A 0-d tensor holding {@code value}, of {@code like}'s type and device, in memory libtorch owns. */
    public static NDArray of(NDArray like, double value) {
        return like.getManager().full(new Shape(), (float) value, like.getDataType());
    }

    /** x · s. */
    public static NDArray times(NDArray x, double s) {
        try (NDArray c = of(x, s)) {
            return x.mul(c);
        }
    }

    /** x / s. */
    public static NDArray divide(NDArray x, double s) {
        try (NDArray c = of(x, s)) {
            return x.div(c);
        }
    }

    /** x ^ e. */
    public static NDArray pow(NDArray x, double e) {
        try (NDArray c = of(x, e)) {
            return x.pow(c);
        }
    }

    /** max(x, s), elementwise. */
    public static NDArray maximum(NDArray x, double s) {
        try (NDArray c = of(x, s)) {
            return x.maximum(c);
        }
    }

    /** min(x, s), elementwise. */
    public static NDArray minimum(NDArray x, double s) {
        try (NDArray c = of(x, s)) {
            return x.minimum(c);
        }
    }

    /**
     * A copy of {@code aliased} (typically fresh from {@code manager.create(javaArray)}) in memory libtorch owns;
     * the original is closed. The copy may be closed at any time, even before backward.
     */
    public static NDArray owned(NDArray aliased) {
        NDArray copy = aliased.duplicate();
        aliased.close();
        return copy;
    }
}
