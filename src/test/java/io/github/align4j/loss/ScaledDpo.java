package io.github.align4j.loss;

import java.util.Map;

/** A test-local custom loss with options: DPO times {@code scale} (default 1). */
public final class ScaledDpo implements PairedLoss {
    private final double scale;

    public ScaledDpo(Map<String, Double> options) {
        this.scale = options.getOrDefault("scale", 1.0);
    }

    public double scale() {
        return scale;
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        return LossOutput.of(Scalars.times(new Dpo().compute(in, beta).losses(), scale));
    }
}
