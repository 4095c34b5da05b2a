package io.github.align4j.loss;

/**
 * SPPO with hard labels (Wu et al. 2024, "Self-Play Preference Optimization"), TRL's
 * {@code loss_type=sppo_hard}: {@code (cl − 1/(2β))² + (rl + 1/(2β))²} with cl = πc − ρc and
 * rl = πr − ρr on summed log-probs. The paper's win probability P (estimated with a preference
 * model) is set to 1 for the chosen and 0 for the rejected completion.
 */
public final class SppoHard implements PairedLoss {
    @Override
    public String name() {
        return "sppo_hard";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        float half = (float) (0.5 / beta);
        return LossOutput.of(in.chosenRatio().sub(half).square().add(in.rejectedRatio().add(half).square()));
    }
}
