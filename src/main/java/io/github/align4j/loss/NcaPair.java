package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;

/**
 * NCA for pairs (Chen et al. 2024, "Noise Contrastive Alignment of Language Models with Explicit
 * Rewards"), in TRL's form ({@code loss_type=nca_pair}):
 * {@code −logσ(β·cl) − ½·logσ(−β·cl) − ½·logσ(−β·rl)}, cl = πc − ρc, rl = πr − ρr.
 */
public final class NcaPair implements PairedLoss {
    @Override
    public String name() {
        return "nca_pair";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray c = Ops.scale(in.chosenRatio(), beta);
        NDArray r = Ops.scale(in.rejectedRatio(), beta);
        NDArray losses = Ops.logSigmoid(c).neg()
                .sub(Ops.scale(Ops.logSigmoid(c.neg()), 0.5))
                .sub(Ops.scale(Ops.logSigmoid(r.neg()), 0.5));
        return LossOutput.of(losses);
    }
}
