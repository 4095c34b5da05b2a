package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/**
 * What a loss returns.
 *
 * @param losses per-example losses; the trainer minimises their mean (any length ≥ 1)
 * @param metrics extra scalars to log under these names (e.g. {@code kl}); each a 0-d or 1-element
 *     array, read after the backward pass. The trainer logs TRL's reward metrics itself unless a
 *     loss provides a metric of the same name.
 */
public record LossOutput(NDArray losses, Map<String, NDArray> metrics) {
    public LossOutput {
        metrics = Map.copyOf(metrics);
    }

    /** A loss with no extra metrics. */
    public static LossOutput of(NDArray losses) {
        return new LossOutput(losses, Map.of());
    }
}
