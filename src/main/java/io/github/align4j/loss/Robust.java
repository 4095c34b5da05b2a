package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;

/**
 * Robust DPO (rDPO; Chowdhury et al. 2024, "Provably Robust DPO"), an unbiased loss under a label
 * flip rate ε: {@code (−logσ(βd)(1−ε) + logσ(−βd)ε) / (1 − 2ε)}, as TRL's {@code loss_type=robust}
 * (which reads ε from {@code label_smoothing}). ε must be below 0.5. The default here is ε = 0,
 * where rDPO equals plain DPO; set {@code label_smoothing} to the flip rate you expect (e.g. 0.1).
 */
public final class Robust implements PairedLoss {
    private final double labelSmoothing;

    /** ε = 0 (equal to DPO until a flip rate is given). */
    public Robust() {
        this(0);
    }

    /** @param labelSmoothing the assumed label-flip rate ε in [0, 0.5) */
    public Robust(double labelSmoothing) {
        this.labelSmoothing = Ops.smoothing("robust", labelSmoothing, 0.5, true);
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
        return "robust";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        double eps = labelSmoothing;
        NDArray z = Ops.scale(in.margin(), beta);
        NDArray losses = Ops.scale(Ops.logSigmoid(z), -(1 - eps))
                .add(Ops.scale(Ops.logSigmoid(z.neg()), eps));
        return LossOutput.of(Ops.scale(losses, 1 / (1 - 2 * eps)));
    }
}
