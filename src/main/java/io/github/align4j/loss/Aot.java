package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;

/**
 * AOT on pairs (Melnyk et al. 2024, "Distributional Preference Alignment of LLMs via Optimal
 * Transport"), TRL's {@code loss_type=aot}: first-order stochastic dominance of the policy's chosen-
 * over-rejected log-ratios over the reference's, enforced on the sorted values of the micro-batch:
 * with {@code u = sort(πc − πr)} and {@code v = sort(ρc − ρr)} (ascending over the B pairs), δ = u − v
 * and the loss is cDPO's {@code −logσ(βδ)(1−ε) − logσ(−βδ)ε} (ε: {@code label_smoothing}).
 *
 * <p>The sort couples the pairs of a micro-batch: the loss of row i is not the loss of pair i, and a
 * micro-batch of 1 is plain DPO. Use micro-batches of several pairs.
 */
public final class Aot implements PairedLoss {
    private final double labelSmoothing;

    /** ε = 0. */
    public Aot() {
        this(0);
    }

    /** @param labelSmoothing ε in [0, 0.5] */
    public Aot(double labelSmoothing) {
        this.labelSmoothing = Ops.smoothing("aot", labelSmoothing, 0.5, false);
    }

    public double labelSmoothing() {
        return labelSmoothing;
    }

    @Override
    public java.util.Map<String, Object> options() {
        return java.util.Map.of(Losses.LABEL_SMOOTHING, labelSmoothing);
    }

    @Override
    public String name() {
        return "aot";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray policy = in.policyChosen().sub(in.policyRejected()).sort(0);
        NDArray reference = in.referenceChosen().sub(in.referenceRejected()).sort(0);
        return LossOutput.of(Ops.smoothedLogistic(Ops.scale(policy.sub(reference), beta), labelSmoothing));
    }
}
