package io.github.align4j.train;

/**
 * Learning rate per optimizer update, as transformers' schedulers: linear warmup from 0 over
 * {@code warmup} updates, then cosine to 0, linear to 0, or constant. Update k (0-based) uses
 * {@code lr·λ(k)}.
 */
record Schedule(double lr, Scheduler type, long warmup, long total) {

    static Schedule of(TrainConfig c, long totalSteps) {
        Optimization o = c.optimization();
        return new Schedule(o.learningRate(), o.scheduler(), o.warmup(totalSteps), totalSteps);
    }

    double at(long k) {
        if (k < warmup) {
            return lr * k / Math.max(1, warmup);
        }
        double progress = (double) (k - warmup) / Math.max(1, total - warmup);
        switch (type) {
            case COSINE:
                return lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
            case LINEAR:
                return lr * Math.max(0, 1 - progress);
            default:
                return lr;
        }
    }
}
