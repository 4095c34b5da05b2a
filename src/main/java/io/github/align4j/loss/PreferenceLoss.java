package io.github.align4j.loss;

/**
 * A preference-tuning objective. It sees sequence log-probabilities only (sums over completion
 * tokens, plus token counts so that it can average), never the model.
 *
 * <p>Implement {@link PairedLoss} for (prompt, chosen, rejected) data or {@link UnpairedLoss} for
 * (prompt, completion, good/bad) data; the trainer refuses a loss whose kind does not match the
 * dataset. Built-in losses use exactly the same API.
 *
 * <p>Scale by a Java number with {@link Scalars} ({@code Scalars.times(x, beta)}), not with DJL's
 * {@code x.mul(beta)}: the latter leaves freed Java memory in the autograd graph (see {@link Scalars}).
 * align4j's trainer keeps that memory alive until backward, so such a loss still trains correctly
 * there, but it gives wrong gradients anywhere else. Run {@link LossChecks#check(PreferenceLoss)}
 * on your loss in a unit test: it catches this, non-finite values and gradients, a wrong output
 * shape and a graph cut from the policy.
 */
public sealed interface PreferenceLoss permits PairedLoss, UnpairedLoss {

    /** Short name used in logs and results, e.g. {@code dpo}. */
    default String name() {
        return getClass().getSimpleName();
    }

    /**
     * The options this loss was made with, by TRL name (e.g. {@code label_smoothing}), as
     * {@code trainer_state.json} records them; empty by default. Override it in a loss of your own
     * to have its options recorded.
     */
    default java.util.Map<String, Object> options() {
        return java.util.Map.of();
    }

    /** False for reference-free losses (SimPO, SFT): the trainer then loads no reference model. */
    default boolean needsReference() {
        return true;
    }

    /** The kind of data this loss trains on. */
    DataKind dataKind();

    /** Paired (prompt, chosen, rejected) or unpaired (prompt, completion, label) data. */
    enum DataKind {
        PAIRED,
        UNPAIRED
    }
}
