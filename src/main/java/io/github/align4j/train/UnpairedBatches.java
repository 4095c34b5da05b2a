package io.github.align4j.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.loss.LossOutput;
import io.github.align4j.loss.Scalars;
import io.github.align4j.loss.UnpairedLogps;
import io.github.align4j.loss.UnpairedLoss;
import io.github.align4j.model.SequenceScorer;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * Unpaired (prompt, completion, desirable) examples; for a loss that asks for them (KTO's KL
 * estimate), each example's prompt is also scored with the previous example's completion.
 */
final class UnpairedBatches implements Batching {
    private final List<TokenizedUnpaired> data;

    UnpairedBatches(List<TokenizedUnpaired> data) {
        this.data = data;
    }

    @Override
    public int size() {
        return data.size();
    }

    @Override
    public int lengthOf(int i) {
        TokenizedUnpaired u = data.get(i);
        return u.prompt().length + u.completion().length;
    }

    @Override
    public long row(int i) {
        return data.get(i).row();
    }

    /** Desirable examples. */
    long desirableCount() {
        return data.stream().filter(TokenizedUnpaired::desirable).count();
    }

    @Override
    public void fingerprint(Consumer<int[]> feed) {
        for (TokenizedUnpaired u : data) {
            feed.accept(u.prompt());
            feed.accept(u.completion());
            feed.accept(new int[] {u.desirable() ? 1 : 0});
        }
    }

    @Override
    public void referenceRequests(BiConsumer<int[], int[]> f) {
        data.forEach(u -> f.accept(u.prompt(), u.completion()));
    }

    /** The mismatched (prompt, completion) pairs of one micro-batch: example j's prompt with example j−1's completion. */
    void klRequests(int[] rows, BiConsumer<int[], int[]> f) {
        for (int j = 0; j < rows.length; j++) {
            int prev = rows[(j - 1 + rows.length) % rows.length];
            f.accept(data.get(rows[j]).prompt(), data.get(prev).completion());
        }
    }

    /** Example i's prompt with the completion of example i−1 (mod B): KTO's KL estimate. */
    static int[][] mismatched(int[][] completions) {
        int b = completions.length;
        int[][] out = new int[b][];
        for (int i = 0; i < b; i++) {
            out[i] = completions[(i - 1 + b) % b];
        }
        return out;
    }

    private record Inputs(int[][] prompts, int[][] completions, float[] desirable) {}

    private Inputs inputs(int[] rows) {
        int b = rows.length;
        int[][] prompts = new int[b][];
        int[][] completions = new int[b][];
        float[] desirable = new float[b];
        for (int i = 0; i < b; i++) {
            TokenizedUnpaired u = data.get(rows[i]);
            prompts[i] = u.prompt();
            completions[i] = u.completion();
            desirable[i] = u.desirable() ? 1f : 0f;
        }
        return new Inputs(prompts, completions, desirable);
    }

    /** The policy's (no graph) and the reference's log-probs of the mismatched pairs, or nulls. */
    private NDArray[] kl(Scoring s, NDManager mgr, UnpairedLoss ul, Inputs in) {
        if (!ul.needsMismatchedPairs()) {
            return new NDArray[2];
        }
        int[][] shifted = mismatched(in.completions());
        Seqs ks = Seqs.of(in.prompts(), shifted);
        NDArray klPolicy = SequenceScorer.score(s.policy(), mgr, ks.seqs(), ks.starts()).logps(); // outside the collector: no graph
        NDArray klRef = ul.needsReference() ? mgr.create(s.reference().logps(in.prompts(), shifted)) : null;
        return new NDArray[] {klPolicy, klRef};
    }

    @Override
    public boolean train(Scoring s, NDManager mgr, int[] rows, Window w, int divisor) {
        UnpairedLoss ul = (UnpairedLoss) s.loss();
        Inputs in = inputs(rows);
        NDArray[] kl = kl(s, mgr, ul, in);
        float[] ref = ul.needsReference() ? s.reference().logps(in.prompts(), in.completions()) : null;
        Seqs q = Seqs.of(in.prompts(), in.completions());
        // KeepAlive: a custom loss's x.mul(beta) builds its scalar over Java memory that a GC could free before
        // backward reads it; the scope holds that memory until backward is done (see KeepAlive).
        try (KeepAlive keep = KeepAlive.open();
                GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            SequenceScorer.Scores sc = SequenceScorer.score(s.policy(), mgr, q.seqs(), q.starts());
            UnpairedLogps lp = new UnpairedLogps(sc.logps(), ref == null ? null : mgr.create(ref), sc.tokens(),
                    mgr.create(in.desirable()), kl[0], kl[1]);
            LossOutput out = ul.compute(lp, s.beta());
            NDArray mean = out.losses().mean();
            s.policy().backward(Scalars.divide(mean, divisor)); // the policy's own: it recomputes checkpointed layers
            float lossValue = mean.getFloat();
            w.addUnpaired(lossValue, sc, ref, in.desirable(), s.beta(), out.metrics(), q.tokens());
            return Float.isFinite(lossValue);
        }
    }

    @Override
    public void evaluate(Scoring s, NDManager mgr, int[] rows, Window w) {
        Inputs in = inputs(rows);
        float[] ref = s.loss().needsReference() ? s.reference().logps(in.prompts(), in.completions()) : null;
        Seqs q = Seqs.of(in.prompts(), in.completions());
        SequenceScorer.Scores sc = SequenceScorer.score(s.policy(), mgr, q.seqs(), q.starts());
        float lossValue = Float.NaN;
        Map<String, NDArray> extra = Map.of();
        if (s.loss() instanceof UnpairedLoss ul) {
            NDArray[] kl = kl(s, mgr, ul, in);
            LossOutput out = ul.compute(new UnpairedLogps(sc.logps(), ref == null ? null : mgr.create(ref),
                    sc.tokens(), mgr.create(in.desirable()), kl[0], kl[1]), s.beta());
            lossValue = out.losses().mean().getFloat();
            extra = out.metrics();
        }
        w.addUnpaired(lossValue, sc, ref, in.desirable(), s.beta(), extra, q.tokens());
    }
}
