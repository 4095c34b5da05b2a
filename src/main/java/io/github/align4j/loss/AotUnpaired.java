package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;

/**
 * AOT, unpaired form (Melnyk et al. 2024, "Distributional Preference Alignment of LLMs via Optimal
 * Transport"), TRL's {@code loss_type=aot_unpaired}: dominance of the distribution of chosen
 * log-ratios over that of rejected ones, on sorted values of the micro-batch: with
 * {@code u = sort(cl)}, {@code v = sort(rl)} (cl = πc − ρc, rl = πr − ρr, ascending over the B rows),
 * δ = u − v and the loss is {@code −logσ(βδ)(1−ε) − logσ(−βδ)ε} (ε: {@code label_smoothing}).
 *
 * <p>It reads paired batches but does not use which rejected completion belongs to which chosen one.
 */
public final class AotUnpaired implements PairedLoss {
    private final double labelSmoothing;

    /** ε = 0. */
    public AotUnpaired() {
        this(0);
    }

    /** @param labelSmoothing ε in [0, 0.5] */
    public AotUnpaired(double labelSmoothing) {
        this.labelSmoothing = Ops.smoothing("aot_unpaired", labelSmoothing, 0.5, false);
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
        return "aot_unpaired";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray chosen = in.chosenRatio().sort(0);
        NDArray rejected = in.rejectedRatio().sort(0);
        return LossOutput.of(Ops.smoothedLogistic(Ops.scale(chosen.sub(rejected), beta), labelSmoothing));
    }
}
