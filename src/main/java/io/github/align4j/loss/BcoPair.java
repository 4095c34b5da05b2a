package io.github.align4j.loss;

/**
 * BCO on pairs (Jung et al. 2024, "Binary Classifier Optimization for Large Language Model
 * Alignment"), TRL's {@code loss_type=bco_pair}: the implicit rewards β·cl and β·rl as the logits of
 * a binary classifier, chosen = 1, rejected = 0: {@code −logσ(β·cl) − logσ(−β·rl)}.
 *
 * <p>As TRL's DPOTrainer today (v1.x): no reward shift. TRL's first version subtracted a running mean
 * of the rewards (the paper's δ) from both; TRL's BCOTrainer keeps it for unpaired data.
 */
public final class BcoPair implements PairedLoss {
    @Override
    public String name() {
        return "bco_pair";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        return LossOutput.of(Ops.logSigmoid(Ops.scale(in.chosenRatio(), beta)).neg()
                .sub(Ops.logSigmoid(Ops.scale(in.rejectedRatio(), -beta))));
    }
}
