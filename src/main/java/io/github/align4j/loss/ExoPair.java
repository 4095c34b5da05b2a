package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;

/**
 * EXO on pairs (Ji et al. 2024, "Towards Efficient Exact Optimization of Language Model Alignment",
 * eq. 16), TRL's {@code loss_type=exo_pair}: the reverse KL between the policy's distribution over
 * the pair, {@code q = softmax(β·(cl, rl))}, and the label distribution {@code (1−ε, ε)}:
 * {@code σ(βd)(logσ(βd) − log(1−ε)) + σ(−βd)(logσ(−βd) − log ε)}, d = cl − rl.
 *
 * <p>ε is TRL's {@code label_smoothing} and must be in (0, 0.5]; as TRL did when it added the loss,
 * ε = 0 (the default of the option) means ε = 10⁻³, since log 0 has no value.
 */
public final class ExoPair implements PairedLoss {
    /** The ε used when {@code label_smoothing} is 0. */
    public static final double DEFAULT_EPSILON = 1e-3;

    private final double epsilon;

    /** ε = 10⁻³. */
    public ExoPair() {
        this(0);
    }

    /** @param labelSmoothing ε in [0, 0.5]; 0 means {@link #DEFAULT_EPSILON} */
    public ExoPair(double labelSmoothing) {
        double eps = Ops.smoothing("exo_pair", labelSmoothing, 0.5, false);
        this.epsilon = eps == 0 ? DEFAULT_EPSILON : eps;
    }

    /** ε as used (never 0). */
    public double epsilon() {
        return epsilon;
    }

    @Override
    public java.util.Map<String, Object> options() {
        return java.util.Map.of(Losses.LABEL_SMOOTHING, epsilon);
    }

    @Override
    public String name() {
        return "exo_pair";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray z = Ops.scale(in.margin(), beta);
        NDArray win = Activation.sigmoid(z).mul(Ops.logSigmoid(z).sub((float) Math.log1p(-epsilon)));
        NDArray lose = Activation.sigmoid(z.neg()).mul(Ops.logSigmoid(z.neg()).sub((float) Math.log(epsilon)));
        return LossOutput.of(win.add(lose));
    }
}
