package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;

/**
 * Length-normalised DPO, TRL's {@code loss_type=sigmoid_norm} (the "DPO-norm" of Lambert et al.
 * 2024, "Tülu 3", after SimPO's per-token averaging): DPO on per-token mean log-ratios,
 * {@code −logσ(β(cl/|yc| − rl/|yr|))} with cl = πc − ρc and rl = πr − ρr. Unlike {@link Simpo} it keeps
 * the reference; unlike {@link Ipo} it is logistic. β is on the per-token scale, so it is typically
 * far larger than DPO's (Tülu 3 used β = 5).
 */
public final class SigmoidNorm implements PairedLoss {
    @Override
    public String name() {
        return "sigmoid_norm";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray chosen = in.chosenRatio().div(in.chosenTokens());
        NDArray rejected = in.rejectedRatio().div(in.rejectedTokens());
        return LossOutput.of(Ops.logSigmoid(Ops.scale(chosen.sub(rejected), beta)).neg());
    }
}
