package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/**
 * Supervised fine-tuning on the chosen completions, reference-free: the mean negative
 * log-likelihood per chosen token over the micro-batch, {@code −Σπc / Σ|yc|}, which is what TRL's
 * RPO term ({@code rpo_alpha}) and {@code nll_loss} metric compute. Per-example losses are
 * {@code −πc·B / Σ|yc|}, so that their mean is that NLL. Metric {@code nll_loss}. Combine it with a
 * preference loss through {@link WeightedLoss} (e.g. RPO, Pang et al. 2024: dpo + α·sft).
 *
 * <p>Difference from TRL: the token average is per micro-batch, not per device batch.
 */
public final class Sft implements PairedLoss {
    @Override
    public String name() {
        return "sft";
    }

    @Override
    public boolean needsReference() {
        return false;
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray tokens = in.chosenTokens().sum();
        NDArray losses = Scalars.times(in.policyChosen().neg(), in.size()).div(tokens);
        NDArray nll = in.policyChosen().sum().neg().div(tokens).stopGradient();
        return new LossOutput(losses, Map.of("nll_loss", nll));
    }
}
