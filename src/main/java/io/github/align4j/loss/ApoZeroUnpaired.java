package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;

/**
 * APO-zero on unpaired data (D'Oosterlinck et al. 2024, "Anchored Preference Optimization", eq. 7 with
 * each completion on its own), TRL's KTOTrainer {@code loss_type=apo_zero_unpaired}: with r = π − ρ,
 * a desirable completion's loss is {@code w_d(1 − σ(βr))} and an undesirable one's {@code w_u σ(βr)}.
 * Unlike {@link Kto} there is no reference point, so no mismatched pairs are scored.
 */
public final class ApoZeroUnpaired implements UnpairedLoss {
    private final double desirableWeight;
    private final double undesirableWeight;

    /** w_d = w_u = 1. */
    public ApoZeroUnpaired() {
        this(1, 1);
    }

    /**
     * @param desirableWeight w_d, TRL's {@code desirable_weight}
     * @param undesirableWeight w_u, TRL's {@code undesirable_weight}
     */
    public ApoZeroUnpaired(double desirableWeight, double undesirableWeight) {
        this.desirableWeight = Ops.positive("apo_zero_unpaired", "desirable_weight", desirableWeight);
        this.undesirableWeight = Ops.positive("apo_zero_unpaired", "undesirable_weight", undesirableWeight);
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
        return "apo_zero_unpaired";
    }

    @Override
    public LossOutput compute(UnpairedLogps in, double beta) {
        NDArray s = Activation.sigmoid(Ops.scale(in.ratio(), beta));
        NDArray isGood = in.desirable();
        NDArray losses = Ops.scale(Ops.oneMinus(s), desirableWeight).mul(isGood)
                .add(Ops.scale(s, undesirableWeight).mul(Ops.oneMinus(isGood)));
        return LossOutput.of(losses);
    }
}
