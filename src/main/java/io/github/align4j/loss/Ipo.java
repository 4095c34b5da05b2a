package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;

/**
 * IPO (Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human
 * Preferences", eq. 17): {@code (d' − 1/(2β))²}, where d' is the DPO margin on per-token
 * <em>mean</em> log-probs: each of πc, πr, ρc, ρr divided by its completion's token count.
 *
 * <p>TRL's first IPO implementation, the one behind the Hugging Face blog's DPO/IPO/KTO comparison,
 * used summed log-probs; that was a bug (the paper averages) and TRL later switched to means, as
 * done here.
 */
public final class Ipo implements PairedLoss {
    @Override
    public String name() {
        return "ipo";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray chosen = in.policyChosen().sub(in.referenceChosen()).div(in.chosenTokens());
        NDArray rejected = in.policyRejected().sub(in.referenceRejected()).div(in.rejectedTokens());
        return LossOutput.of(chosen.sub(rejected).sub((float) (1 / (2 * beta))).square());
    }
}
