package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;

/**
 * DPO (Rafailov et al. 2023, "Direct Preference Optimization"), with the conservative cDPO label
 * smoothing ε of Mitchell (2023): {@code −logσ(βd)(1−ε) − logσ(−βd)ε}, where
 * {@code d = (πc − πr) − (ρc − ρr)} on summed log-probs. Same as TRL's {@code loss_type=sigmoid}.
 */
public final class Dpo implements PairedLoss {
    private final double labelSmoothing;

    /** Plain DPO (ε = 0). */
    public Dpo() {
        this(0);
    }

    /** @param labelSmoothing ε in [0, 0.5], TRL's {@code label_smoothing} */
    public Dpo(double labelSmoothing) {
        this.labelSmoothing = Ops.smoothing("dpo", labelSmoothing, 0.5, false);
    }

    public double labelSmoothing() {
        return labelSmoothing;
    }

    @Override
    public java.util.Map<String, Object> options() {
        return java.util.Map.of(Losses.LABEL_SMOOTHING, labelSmoothing);
    }

    @Override
    public String name() {
        return "dpo";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray z = Ops.scale(in.margin(), beta);
        NDArray losses = Ops.logSigmoid(z).neg();
        if (labelSmoothing > 0) {
            losses = Ops.scale(losses, 1 - labelSmoothing)
                    .sub(Ops.scale(Ops.logSigmoid(z.neg()), labelSmoothing));
        }
        return LossOutput.of(losses);
    }
}
