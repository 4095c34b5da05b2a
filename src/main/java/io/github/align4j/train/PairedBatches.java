package io.github.align4j.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.training.GradientCollector;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.loss.LossOutput;
import io.github.align4j.loss.PairedLogps;
import io.github.align4j.loss.PairedLoss;
import io.github.align4j.loss.Scalars;
import io.github.align4j.model.SequenceScorer;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/** Pairs: chosen and rejected of a micro-batch run through one concatenated forward per model. */
final class PairedBatches implements Batching {
    private final List<TokenizedPair> data;

    PairedBatches(List<TokenizedPair> data) {
        this.data = data;
    }

    @Override
    public int size() {
        return data.size();
    }

    @Override
    public int lengthOf(int i) {
        TokenizedPair p = data.get(i);
        return p.prompt().length + Math.max(p.chosen().length, p.rejected().length);
    }

    @Override
    public long row(int i) {
        return data.get(i).row();
    }

    @Override
    public void fingerprint(Consumer<int[]> feed) {
        for (TokenizedPair p : data) {
            feed.accept(p.prompt());
            feed.accept(p.chosen());
            feed.accept(p.rejected());
        }
    }

    @Override
    public void referenceRequests(BiConsumer<int[], int[]> f) {
        data.forEach(p -> {
            f.accept(p.prompt(), p.chosen());
            f.accept(p.prompt(), p.rejected());
        });
    }

    /** Prompts twice, then chosen completions followed by rejected ones. */
    private int[][][] inputs(int[] rows) {
        int b = rows.length;
        int[][] prompts = new int[2 * b][];
        int[][] completions = new int[2 * b][];
        for (int i = 0; i < b; i++) {
            TokenizedPair p = data.get(rows[i]);
            prompts[i] = p.prompt();
            prompts[b + i] = p.prompt();
            completions[i] = p.chosen();
            completions[b + i] = p.rejected();
        }
        return new int[][][] {prompts, completions};
    }

    @Override
    public boolean train(Scoring s, NDManager mgr, int[] rows, Window w, int divisor) {
        int b = rows.length;
        int[][][] in2 = inputs(rows);
        int[] full = publicLengths(in2[1], s.ldAlpha());
        float[] ref = s.loss().needsReference() ? s.reference().logps(in2[0], in2[1], full, s.ldAlpha()) : null;
        Seqs q = Seqs.of(in2[0], in2[1]);
        // KeepAlive: a custom loss's x.mul(beta) builds its scalar over Java memory that a GC could free before
        // backward reads it; the scope holds that memory until backward is done (see KeepAlive).
        try (KeepAlive keep = KeepAlive.open();
                GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            SequenceScorer.Scores sc = SequenceScorer.score(s.policy(), mgr, q.seqs(), q.starts(), options(s, full));
            PairedLogps in = logps(mgr, sc, ref, b);
            LossOutput out = ((PairedLoss) s.loss()).compute(in, s.beta());
            NDArray mean = weighted(s, out.losses(), sc, b).mean();
            s.policy().backward(Scalars.divide(mean, divisor)); // the policy's own: it recomputes checkpointed layers
            float lossValue = mean.getFloat();
            w.addPaired(lossValue, sc, ref, b, s.beta(), out.metrics(), q.tokens());
            return Float.isFinite(lossValue);
        }
    }

    @Override
    public void evaluate(Scoring s, NDManager mgr, int[] rows, Window w) {
        int b = rows.length;
        int[][][] in2 = inputs(rows);
        int[] full = publicLengths(in2[1], s.ldAlpha());
        float[] ref = s.loss().needsReference() ? s.reference().logps(in2[0], in2[1], full, s.ldAlpha()) : null;
        Seqs q = Seqs.of(in2[0], in2[1]);
        SequenceScorer.Scores sc = SequenceScorer.score(s.policy(), mgr, q.seqs(), q.starts(), options(s, full));
        float lossValue = Float.NaN;
        Map<String, NDArray> extra = Map.of();
        if (s.loss() instanceof PairedLoss pl) {
            LossOutput out = pl.compute(logps(mgr, sc, ref, b), s.beta());
            lossValue = weighted(s, out.losses(), sc, b).mean().getFloat();
            extra = out.metrics();
        }
        w.addPaired(lossValue, sc, ref, b, s.beta(), extra, q.tokens());
    }

    /**
     * LD-DPO's public length per row (chosen rows, then rejected): {@code l_p = min(|y_c|, |y_r|)} of the
     * row's pair; null when ld_alpha is 1 (every token counts fully).
     */
    static int[] publicLengths(int[][] completions, double ldAlpha) {
        if (ldAlpha == 1) {
            return null;
        }
        int b = completions.length / 2;
        int[] full = new int[2 * b];
        for (int i = 0; i < b; i++) {
            full[i] = Math.min(completions[i].length, completions[b + i].length);
            full[b + i] = full[i];
        }
        return full;
    }

    private static SequenceScorer.Options options(Scoring s, int[] full) {
        return new SequenceScorer.Options(full, s.ldAlpha(), s.useWeighting());
    }

    /**
     * WPO's weighted per-pair losses: {@code loss_i · min(1, exp(a_c + a_r))} with a the policy's mean aligned
     * log-probs (no gradient), as TRL's DPOTrainer weights them; the losses unchanged without use_weighting.
     */
    static NDArray weighted(Scoring s, NDArray losses, SequenceScorer.Scores sc, int b) {
        if (!s.useWeighting()) {
            return losses;
        }
        NDArray a = sc.alignedMeans();
        NDArray weights = a.get(new NDIndex("0:{}", b)).add(a.get(new NDIndex("{}:", b))).exp().minimum(1f);
        return losses.mul(weights);
    }

    private static PairedLogps logps(NDManager mgr, SequenceScorer.Scores sc, float[] ref, int b) {
        NDIndex first = new NDIndex("0:{}", b);
        NDIndex second = new NDIndex("{}:", b);
        NDArray rc = null;
        NDArray rr = null;
        if (ref != null) {
            NDArray r = mgr.create(ref);
            rc = r.get(first);
            rr = r.get(second);
        }
        return new PairedLogps(sc.logps().get(first), sc.logps().get(second), rc, rr,
                sc.tokens().get(first), sc.tokens().get(second));
    }
}
