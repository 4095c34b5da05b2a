package io.github.align4j.loss;

/** A loss over (prompt, chosen, rejected) pairs. */
public non-sealed interface PairedLoss extends PreferenceLoss {

    /**
     * @param in the policy's (and reference's) summed log-probs of the chosen and rejected
     *     completions of a micro-batch of B pairs
     * @param beta the temperature β
     * @return per-example losses (the trainer minimises their mean) and extra metrics
     */
    LossOutput compute(PairedLogps in, double beta);

    @Override
    default DataKind dataKind() {
        return DataKind.PAIRED;
    }
}
