package io.github.align4j.loss;

import ai.djl.nn.Activation;

/**
 * APO-zero (D'Oosterlinck et al. 2024, "Anchored Preference Optimization", eq. 7), TRL's
 * {@code loss_type=apo_zero}: {@code (1 − σ(β·cl)) + σ(β·rl)}. It raises the chosen and lowers the
 * rejected likelihood; use it when the chosen completions are better than the model's own outputs.
 */
public final class ApoZero implements PairedLoss {
    @Override
    public String name() {
        return "apo_zero";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        return LossOutput.of(Ops.oneMinus(Activation.sigmoid(Ops.scale(in.chosenRatio(), beta)))
                .add(Activation.sigmoid(Ops.scale(in.rejectedRatio(), beta))));
    }
}
