package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import io.github.align4j.Align4jException;

/**
 * Float32 building blocks shared by the built-in losses. Products with a number go through {@link Scalars}
 * (DJL's {@code mul(Number)} is unsafe under autograd); add and sub take a {@code float}: DJL turns a
 * {@code Double} operand into a float64 tensor, which would promote 0-d results.
 */
final class Ops {
    private Ops() {}

    /** log σ(x), computed stably as −softplus(−x). */
    static NDArray logSigmoid(NDArray x) {
        return Activation.softPlus(x.neg()).neg();
    }

    /** 1 − x. */
    static NDArray oneMinus(NDArray x) {
        return x.neg().add(1f);
    }

    /** x · s, with s a float32 scalar. */
    static NDArray scale(NDArray x, double s) {
        return Scalars.times(x, s);
    }

    /** The cDPO / rDPO label-smoothing option checked against [0, max] (or [0, max) when open). */
    static double smoothing(String loss, double eps, double max, boolean open) {
        if (!(eps >= 0 && (open ? eps < max : eps <= max))) {
            throw new Align4jException("Option label_smoothing=" + eps + " is out of range for loss '"
                    + loss + "': set label_smoothing to a value in [0, " + max + (open ? ")" : "]")
                    + " (0 turns smoothing off).");
        }
        return eps;
    }

    /** A weight option that must be a finite positive number. */
    static double positive(String loss, String key, double value) {
        if (!(value > 0 && Double.isFinite(value))) {
            throw new Align4jException("Option " + key + "=" + value + " of loss '" + loss
                    + "' must be a finite number > 0: set " + key + " to a positive value (default 1).");
        }
        return value;
    }

    /** cDPO's smoothed logistic loss of a logit z: {@code −logσ(z)(1−ε) − logσ(−z)ε} (plain −logσ(z) when ε = 0). */
    static NDArray smoothedLogistic(NDArray z, double eps) {
        NDArray losses = logSigmoid(z).neg();
        if (eps > 0) {
            losses = scale(losses, 1 - eps).sub(scale(logSigmoid(z.neg()), eps));
        }
        return losses;
    }

    /** A finite number > 0 (e.g. a temperature) or a message naming the option and its default. */
    static double positive(String loss, String key, double value, double dflt) {
        if (!(value > 0 && Double.isFinite(value))) {
            throw new Align4jException("Option " + key + "=" + value + " of loss '" + loss
                    + "' must be a finite number > 0: set " + key + " to a positive value (default " + dflt + ").");
        }
        return value;
    }
}
