package io.github.align4j.train;

import ai.djl.ndarray.NDManager;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * An online run's data: the prompts are the examples that the data order walks through; each
 * training micro-batch asks an {@link OnlinePairs} for fresh pairs of its prompts (sampled outside
 * the gradient collector) and trains on them as {@link PairedBatches} trains on fixed pairs. Besides
 * the paired metrics it logs TRL OnlineDPOTrainer's {@code objective/kl} (mean over the pair's
 * completions of Σ log π − log π_ref), {@code objective/entropy} (mean of −Σ log π),
 * {@code objective/non_score_reward} (−β·kl), {@code objective/rlhf_reward} (score − β·kl, when the
 * judge gives scores) and {@code beta}.
 */
final class OnlineBatches implements Batching {
    /** The prompts with their worst-case completions: lengths, fingerprint and memory plan. */
    private final List<TokenizedPair> plan;
    private final OnlinePairs source;
    private final long stepsPerEpoch;
    private long step;
    private int micro;

    OnlineBatches(List<TokenizedPair> plan, OnlinePairs source, TrainConfig cfg) {
        this.plan = plan;
        this.source = source;
        long microPerEpoch = (plan.size() + cfg.optimization().batchSize() - 1) / cfg.optimization().batchSize();
        this.stepsPerEpoch = Position.stepsPerEpoch(microPerEpoch, cfg.optimization().gradientAccumulationSteps());
    }

    /**
     * What an online run refuses: training data besides its prompts, and a reference computed before
     * training ({@code precompute_ref_log_probs}, {@code ref_logps_file}).
     *
     * @param trainData whether training pairs or unpaired examples were given too
     */
    static void check(TrainConfig cfg, boolean trainData) {
        if (trainData) {
            throw new Align4jException("an online run samples its pairs: give prompts (Builder.online), not training data");
        }
        if (cfg.reference().precompute() || !cfg.reference().logpsFile().isEmpty()) {
            throw new Align4jException((cfg.reference().precompute() ? "precompute_ref_log_probs" : "ref_logps_file")
                    + " cannot be used online: the completions are sampled during training, so the reference "
                    + "scores them live; drop " + (cfg.reference().precompute() ? "--precompute-ref" : "--ref-logps"));
        }
    }

    /** Called before optimizer step {@code s} (0-based) runs its micro-batches. */
    void beginStep(long s) {
        step = s;
        micro = 0;
    }

    @Override
    public int size() {
        return plan.size();
    }

    @Override
    public int lengthOf(int i) {
        TokenizedPair p = plan.get(i);
        return p.prompt().length + Math.max(p.chosen().length, p.rejected().length);
    }

    @Override
    public long row(int i) {
        return plan.get(i).row();
    }

    @Override
    public void fingerprint(Consumer<int[]> feed) {
        for (TokenizedPair p : plan) {
            feed.accept(p.prompt());
            feed.accept(new int[] {p.chosen().length});
        }
    }

    @Override
    public void referenceRequests(BiConsumer<int[], int[]> f) {
        // nothing is known before sampling: a precomputed reference is refused for online runs
    }

    @Override
    public boolean train(Scoring s, NDManager mgr, int[] rows, Window w, int divisor) {
        int epoch = (int) (step / stepsPerEpoch);
        OnlinePairs.Batch batch = source.pairs(step, epoch, micro++, rows.clone());
        if (batch.pairs().size() != rows.length) {
            throw new IllegalStateException("the online pair source gave " + batch.pairs().size() + " pairs for "
                    + rows.length + " prompts");
        }
        double beta = batch.beta();
        Scoring sb = new Scoring(s.policy(), s.loss(), beta, s.reference());
        // the paired micro-batch's means, read back from the window: Σ β(log π − log π_ref) and Σ log π per side
        double rc = w.rewardChosen;
        double rr = w.rewardRejected;
        double lc = w.logpChosen;
        double lr = w.logpRejected;
        boolean finite = new PairedBatches(batch.pairs()).train(sb, mgr, Batching.range(0, rows.length), w, divisor);
        double kl = ((w.rewardChosen - rc) + (w.rewardRejected - rr)) / (2 * beta);
        double entropy = -((w.logpChosen - lc) + (w.logpRejected - lr)) / 2;
        add(w, "objective/kl", kl);
        add(w, "objective/entropy", entropy);
        add(w, "objective/non_score_reward", -beta * kl);
        if (!Double.isNaN(batch.pairScore())) {
            add(w, "objective/rlhf_reward", batch.pairScore() - beta * kl);
        }
        batch.metrics().forEach((k, v) -> add(w, k, v));
        add(w, "beta", beta);
        return finite;
    }

    private static void add(Window w, String key, double v) {
        double[] acc = w.extra.computeIfAbsent(key, k -> new double[2]);
        acc[0] += v;
        acc[1]++;
    }

    @Override
    public void evaluate(Scoring s, NDManager mgr, int[] rows, Window w) {
        throw new UnsupportedOperationException("an online run evaluates on held-out pairs, not on its prompts");
    }
}
