package io.github.align4j.loss;

import ai.djl.nn.Activation;

/**
 * Hinge loss of SLiC (Zhao et al. 2023, "SLiC-HF"): {@code relu(1 − βd)}, d the DPO margin on
 * summed log-probs; 1/β plays the role of SLiC's margin. Same as TRL's {@code loss_type=hinge}.
 */
public final class Hinge implements PairedLoss {
    @Override
    public String name() {
        return "hinge";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        return LossOutput.of(Activation.relu(Ops.oneMinus(Ops.scale(in.margin(), beta))));
    }
}
