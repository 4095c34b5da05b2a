package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import io.github.align4j.Align4jException;

/**
 * SimPO (Meng et al. 2024, "SimPO: Simple Preference Optimization with a Reference-Free Reward"),
 * reference-free: {@code −logσ(β(πc/|yc| − πr/|yr|) − γ)} on per-token mean log-probs, with the
 * optional label smoothing ε of TRL's {@code CPOTrainer}:
 * {@code −logσ(x)(1−ε) − logσ(−x)ε}, x = β(πc/|yc| − πr/|yr|) − γ.
 *
 * <p>γ is the absolute target reward margin, TRL's {@code simpo_gamma} (default 0.5, as TRL). The
 * SimPO paper's scripts instead set {@code gamma_beta_ratio} = γ/β; convert with γ = ratio·β.
 */
public final class Simpo implements PairedLoss {
    private final double gamma;
    private final double labelSmoothing;

    /** γ = 0.5, ε = 0. */
    public Simpo() {
        this(0.5, 0);
    }

    /**
     * @param gamma γ, the target margin ({@code simpo_gamma})
     * @param labelSmoothing ε in [0, 0.5] ({@code label_smoothing})
     */
    public Simpo(double gamma, double labelSmoothing) {
        if (!Double.isFinite(gamma)) {
            throw new Align4jException("Option simpo_gamma=" + gamma
                    + " of loss 'simpo' must be a finite number: set simpo_gamma to the target margin (default 0.5).");
        }
        this.gamma = gamma;
        this.labelSmoothing = Ops.smoothing("simpo", labelSmoothing, 0.5, false);
    }

    public double gamma() {
        return gamma;
    }

    public double labelSmoothing() {
        return labelSmoothing;
    }

    @Override
    public java.util.Map<String, Object> options() {
        return java.util.Map.of(Losses.SIMPO_GAMMA, gamma, Losses.LABEL_SMOOTHING, labelSmoothing);
    }

    @Override
    public String name() {
        return "simpo";
    }

    @Override
    public boolean needsReference() {
        return false;
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray chosen = in.policyChosen().div(in.chosenTokens());
        NDArray rejected = in.policyRejected().div(in.rejectedTokens());
        NDArray x = Ops.scale(chosen.sub(rejected), beta).sub((float) gamma);
        NDArray losses = Ops.logSigmoid(x).neg();
        if (labelSmoothing > 0) {
            losses = Ops.scale(losses, 1 - labelSmoothing).sub(Ops.scale(Ops.logSigmoid(x.neg()), labelSmoothing));
        }
        return LossOutput.of(losses);
    }
}
