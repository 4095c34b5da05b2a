package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;

/**
 * Sequence log-probabilities of a micro-batch of B pairs, each a float32 array of shape [B].
 * Policy arrays carry gradients; reference arrays are constants and are {@code null} when the
 * loss does not {@linkplain PreferenceLoss#needsReference() need a reference}.
 *
 * @param policyChosen πc: Σ log π(y_c | x) over the chosen completion's tokens (EOS included)
 * @param policyRejected πr
 * @param referenceChosen ρc: the same under the frozen reference model
 * @param referenceRejected ρr
 * @param chosenTokens |y_c|: the chosen completion's token count (float32)
 * @param rejectedTokens |y_r|
 */
public record PairedLogps(
        NDArray policyChosen,
        NDArray policyRejected,
        NDArray referenceChosen,
        NDArray referenceRejected,
        NDArray chosenTokens,
        NDArray rejectedTokens) {

    /** cl = πc − ρc, the chosen log-ratio. */
    public NDArray chosenRatio() {
        return policyChosen.sub(referenceChosen);
    }

    /** rl = πr − ρr, the rejected log-ratio. */
    public NDArray rejectedRatio() {
        return policyRejected.sub(referenceRejected);
    }

    /** d = (πc − πr) − (ρc − ρr), DPO's implicit reward margin divided by β. */
    public NDArray margin() {
        return chosenRatio().sub(rejectedRatio());
    }

    /** B, the number of pairs. */
    public long size() {
        return policyChosen.getShape().get(0);
    }
}
