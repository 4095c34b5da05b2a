package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;

/**
 * Sequence log-probabilities of a micro-batch of B unpaired examples, each array of shape [B].
 *
 * @param policy Σ log π(y | x) over each completion's tokens (EOS included); carries gradients
 * @param reference the same under the frozen reference (null when not needed)
 * @param tokens |y| per example (float32)
 * @param desirable 1 for a desirable (good) completion, 0 for an undesirable one (float32)
 * @param mismatchedPolicy log π(y_{i−1} | x_i): prompt i with the completion of example i−1 (mod B);
 *     null unless {@link UnpairedLoss#needsMismatchedPairs()}; no gradient
 * @param mismatchedReference the same under the reference
 */
public record UnpairedLogps(
        NDArray policy,
        NDArray reference,
        NDArray tokens,
        NDArray desirable,
        NDArray mismatchedPolicy,
        NDArray mismatchedReference) {

    /** π − ρ per example. */
    public NDArray ratio() {
        return policy.sub(reference);
    }

    /** B, the number of examples. */
    public long size() {
        return policy.getShape().get(0);
    }
}
