package io.github.align4j.train;

/**
 * How the policy is optimised: the schedule, batches, AdamW, and the order of the data.
 *
 * @param batchSize {@code per_device_train_batch_size}: pairs (or examples) per micro-batch
 * @param evalBatchSize {@code per_device_eval_batch_size}
 * @param maxSteps {@code max_steps}: optimizer steps; &gt; 0 overrides {@code numTrainEpochs}
 * @param maxGradNorm {@code max_grad_norm}: global clip (0: off)
 * @param seed {@code seed} of shuffling and everything random
 */
public record Optimization(double learningRate, Scheduler scheduler, double warmupRatio, int warmupSteps,
        double numTrainEpochs, int maxSteps, int batchSize, int evalBatchSize, int gradientAccumulationSteps,
        double maxGradNorm, double weightDecay, double adamBeta1, double adamBeta2, double adamEpsilon, long seed,
        boolean shuffle, boolean groupByLength) {

    /** The warmup in optimizer updates for a run of {@code totalSteps}: warmup_steps, else warmup_ratio's share. */
    public long warmup(long totalSteps) {
        return warmupSteps > 0 ? warmupSteps : (long) Math.ceil(warmupRatio * totalSteps);
    }
}
