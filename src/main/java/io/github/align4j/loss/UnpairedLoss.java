package io.github.align4j.loss;

/** A loss over unpaired (prompt, completion, desirable?) examples, e.g. KTO. */
public non-sealed interface UnpairedLoss extends PreferenceLoss {

    /**
     * @param in the policy's and reference's summed log-probs of each completion, its label, and
     *     (when {@link #needsMismatchedPairs()}) the log-probs of mismatched (prompt, completion) pairs
     * @param beta the temperature β
     * @return per-example losses (the trainer minimises their mean) and extra metrics
     */
    LossOutput compute(UnpairedLogps in, double beta);

    /**
     * True when the loss needs each prompt scored with the completion of the previous example in
     * the micro-batch (KTO's KL estimate); the trainer then fills {@link UnpairedLogps#mismatchedPolicy()}.
     */
    default boolean needsMismatchedPairs() {
        return false;
    }

    @Override
    default DataKind dataKind() {
        return DataKind.UNPAIRED;
    }
}
