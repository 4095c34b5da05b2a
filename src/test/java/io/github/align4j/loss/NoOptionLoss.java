package io.github.align4j.loss;

/** A test-local custom loss with only a no-arg constructor: the hinge loss. */
public final class NoOptionLoss implements PairedLoss {
    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        return new Hinge().compute(in, beta);
    }
}
