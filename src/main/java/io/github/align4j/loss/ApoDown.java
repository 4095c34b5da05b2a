package io.github.align4j.loss;

import ai.djl.nn.Activation;

/**
 * APO-down (D'Oosterlinck et al. 2024, "Anchored Preference Optimization", eq. 8), TRL's
 * {@code loss_type=apo_down}: {@code σ(β·cl) + (1 − σ(β(cl − rl)))}. It lowers the chosen likelihood
 * and the rejected one more; use it when the chosen completions are worse than the model's own.
 */
public final class ApoDown implements PairedLoss {
    @Override
    public String name() {
        return "apo_down";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        return LossOutput.of(Activation.sigmoid(Ops.scale(in.chosenRatio(), beta))
                .add(Ops.oneMinus(Activation.sigmoid(Ops.scale(in.margin(), beta)))));
    }
}
