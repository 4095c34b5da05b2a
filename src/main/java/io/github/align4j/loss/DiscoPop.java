package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;

/**
 * DiscoPOP (Chris Lu et al. 2024, "Discovering Preference Optimization Algorithms with and for Large
 * Language Models", eq. 5; the log-ratio modulated loss), TRL's {@code loss_type=discopop}: with
 * x = βd and the mixing weight m = σ(x/τ), {@code (1 − m)·(−logσ(x)) + m·exp(−x)}: a blend of DPO's
 * logistic loss (for negative margins) and an exponential loss (for positive ones).
 *
 * <p>τ is TRL's {@code discopop_tau} (default 0.05, as TRL and the paper).
 */
public final class DiscoPop implements PairedLoss {
    /** TRL's default {@code discopop_tau}. */
    public static final double DEFAULT_TAU = 0.05;

    private final double tau;

    /** τ = 0.05. */
    public DiscoPop() {
        this(DEFAULT_TAU);
    }

    /** @param tau τ &gt; 0, the temperature of the mixing weight */
    public DiscoPop(double tau) {
        this.tau = Ops.positive("discopop", Losses.DISCOPOP_TAU, tau, DEFAULT_TAU);
    }

    public double tau() {
        return tau;
    }

    @Override
    public java.util.Map<String, Object> options() {
        return java.util.Map.of(Losses.DISCOPOP_TAU, tau);
    }

    @Override
    public String name() {
        return "discopop";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray x = Ops.scale(in.margin(), beta);
        NDArray m = Activation.sigmoid(Ops.scale(x, 1 / tau));
        NDArray logistic = Ops.logSigmoid(x).neg();
        NDArray exponential = x.neg().exp();
        return LossOutput.of(Ops.oneMinus(m).mul(logistic).add(m.mul(exponential)));
    }
}
