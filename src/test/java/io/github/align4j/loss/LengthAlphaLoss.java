package io.github.align4j.loss;

import java.util.Map;

/** A test-local custom loss taking {@code Map<String, Object>}: DPO plus length_alpha · (|yc| − |yr|)-free scaling. */
public final class LengthAlphaLoss implements PairedLoss {
    private final Map<String, Object> options;

    public LengthAlphaLoss(Map<String, Object> options) {
        for (String k : options.keySet()) {
            if (!k.equals("length_alpha") && !k.equals("note")) {
                throw new io.github.align4j.Align4jException("LengthAlphaLoss: unknown option " + k);
            }
        }
        this.options = options;
    }

    public double lengthAlpha() {
        return ((Number) options.getOrDefault("length_alpha", 0.0)).doubleValue();
    }

    @Override
    public Map<String, Object> options() {
        return options;
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        return LossOutput.of(Scalars.times(new Dpo().compute(in, beta).losses(), 1 + lengthAlpha()));
    }
}
