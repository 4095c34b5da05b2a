package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import java.math.BigDecimal;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * KTO on unpaired data (Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic
 * Optimization"), as TRL's {@code KTOTrainer}. The reference point z = max(0, mean(π' − ρ')) is
 * estimated from mismatched (prompt, completion) pairs of the micro-batch and gets no gradient. With
 * r = π − ρ of each example, a desirable example's loss is {@code w_d(1 − σ(β(r − z)))} and an
 * undesirable one's {@code w_u(1 − σ(β(z − r)))}. Metric {@code kl}: z.
 *
 * <p>Difference from TRL: z is the mean over this micro-batch only; TRL also averages it across
 * processes.
 */
public final class Kto implements UnpairedLoss {
    private final double desirableWeight;
    private final double undesirableWeight;

    /** w_d = w_u = 1. */
    public Kto() {
        this(1, 1);
    }

    /**
     * @param desirableWeight w_d, TRL's {@code desirable_weight}
     * @param undesirableWeight w_u, TRL's {@code undesirable_weight}
     */
    public Kto(double desirableWeight, double undesirableWeight) {
        this.desirableWeight = Ops.positive("kto", "desirable_weight", desirableWeight);
        this.undesirableWeight = Ops.positive("kto", "undesirable_weight", undesirableWeight);
    }

    public double desirableWeight() {
        return desirableWeight;
    }

    public double undesirableWeight() {
        return undesirableWeight;
    }

    @Override
    public java.util.Map<String, Object> options() {
        return java.util.Map.of(Losses.DESIRABLE_WEIGHT, desirableWeight, Losses.UNDESIRABLE_WEIGHT, undesirableWeight);
    }

    @Override
    public String name() {
        return "kto";
    }

    @Override
    public boolean needsMismatchedPairs() {
        return true;
    }

    @Override
    public LossOutput compute(UnpairedLogps in, double beta) {
        NDArray z = in.mismatchedPolicy().sub(in.mismatchedReference()).mean().stopGradient().maximum(0f); // detached: maximum keeps nothing for backward
        NDArray r = in.ratio();
        NDArray good = Ops.oneMinus(Activation.sigmoid(Ops.scale(r.sub(z), beta)));
        NDArray bad = Ops.oneMinus(Activation.sigmoid(Ops.scale(r.neg().add(z), beta)));
        NDArray isGood = in.desirable();
        NDArray losses = Ops.scale(good, desirableWeight).mul(isGood)
                .add(Ops.scale(bad, undesirableWeight).mul(Ops.oneMinus(isGood)));
        return new LossOutput(losses, Map.of("kl", z));
    }

    /**
     * Checks the KTO paper's advice (eq. 8) that {@code (w_d·n_d) / (w_u·n_u)} lie in [1, 4/3].
     *
     * @param nDesirable number of desirable examples in the training set
     * @param nUndesirable number of undesirable examples
     * @param wd desirable_weight
     * @param wu undesirable_weight
     * @return a warning saying which weight to set and to what range, or empty when the ratio is fine
     */
    public static Optional<String> checkWeights(long nDesirable, long nUndesirable, double wd, double wu) {
        if (nDesirable == 0 || nUndesirable == 0) {
            return Optional.of("KTO data has " + nDesirable + " desirable and " + nUndesirable
                    + " undesirable examples; KTO needs both kinds (label some completions true and some false).");
        }
        double ratio = wd * nDesirable / (wu * nUndesirable);
        if (ratio >= 1 && ratio <= 4.0 / 3) {
            return Optional.empty();
        }
        String fix;
        if (ratio < 1) { // too little desirable mass: raise w_d
            double lo = wu * nUndesirable / nDesirable;
            fix = String.format(Locale.ROOT, "set desirable_weight to a value in [%.4g, %.4g] (keeping undesirable_weight=%s)",
                    lo, lo * 4 / 3, fmt(wu));
        } else { // too much desirable mass: raise w_u
            double hi = wd * nDesirable / nUndesirable;
            fix = String.format(Locale.ROOT, "set undesirable_weight to a value in [%.4g, %.4g] (keeping desirable_weight=%s)",
                    hi * 3 / 4, hi, fmt(wd));
        }
        return Optional.of(String.format(Locale.ROOT,
                "KTO weights are unbalanced: (desirable_weight*n_desirable)/(undesirable_weight*n_undesirable) = "
                        + "(%s*%d)/(%s*%d) = %.4g, outside [1, 4/3] (KTO paper, eq. 8); %s.",
                fmt(wd), nDesirable, fmt(wu), nUndesirable, ratio, fix));
    }

    private static String fmt(double v) {
        return BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
    }
}
