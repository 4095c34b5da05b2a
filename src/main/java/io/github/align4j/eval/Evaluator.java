package io.github.align4j.eval;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.SequenceScorer;
import io.github.align4j.model.TextTokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Held-out evaluation of a tuned policy against its reference: implicit-reward preference
 * accuracy on pairs ({@link #preference}) and judged win rate of sampled completions with a KL
 * estimate ({@link #judge}).
 */
public final class Evaluator {
    static {
        Offline.ensure();
    }

    /** z of a two-sided 95% normal interval. */
    static final double Z95 = 1.959963984540054;

    private Evaluator() {}

    /**
     * Σ log-probs of completions given prompts under a reference: a live model
     * ({@link #of(CausalLM)}) or precomputed values.
     */
    @FunctionalInterface
    public interface ReferenceLogps {
        /** One value per row: Σ_t log ρ(completion_t | prompt, completion_&lt;t). */
        double[] logps(int[][] prompts, int[][] completions);

        /** A live model, scored with {@link SequenceScorer} (no graph). */
        static ReferenceLogps of(CausalLM model) {
            return (prompts, completions) -> scoreLogps(model, prompts, completions);
        }

        /** No reference: every value is 0, so rewards are β·log π (reference-free losses such as SimPO). */
        static ReferenceLogps none() {
            return (prompts, completions) -> new double[prompts.length];
        }
    }

    /**
     * Implicit-reward preference accuracy on held-out pairs: share of pairs with
     * β·[(πc−ρc) − (πr−ρr)] &gt; 0 (strict), mean margin (that quantity), mean logps, where π and ρ
     * are Σ log-probs of the completion (EOS included) under the policy and the reference.
     *
     * @param reference a live reference model; null means no reference (ρ = 0); the same object as
     *     the policy gives margins of exactly 0
     * @param batchSize pairs per forward pass (chosen and rejected run together: 2·batchSize rows)
     */
    public static PreferenceEval preference(CausalLM policy, CausalLM reference, List<TokenizedPair> pairs, double beta,
            int batchSize) {
        ReferenceLogps ref = reference == null ? ReferenceLogps.none() : ReferenceLogps.of(reference);
        return preferenceFrom(policy, ref, pairs, beta, batchSize);
    }

    /**
     * {@link #preference} with the reference log-probs from a function (a live model, or values
     * precomputed and cached). The function is called with the same rows as the policy's forward
     * pass: batchSize chosen completions followed by the same pairs' rejected ones.
     */
    public static PreferenceEval preferenceFrom(CausalLM policy, ReferenceLogps reference, List<TokenizedPair> pairs,
            double beta, int batchSize) {
        if (policy == null || reference == null) {
            throw new IllegalArgumentException("preference evaluation needs a policy and reference log-probs");
        }
        if (pairs.isEmpty()) {
            throw new Align4jException("the evaluation data has no pairs; check the --data file");
        }
        if (batchSize < 1) {
            throw new Align4jException("batch size must be ≥ 1 (--batch-size), got " + batchSize);
        }
        if (!(beta > 0)) {
            throw new Align4jException("beta must be > 0 (--beta), got " + beta);
        }
        double correct = 0;
        double margin = 0;
        double lpc = 0;
        double lpr = 0;
        double rwc = 0;
        double rwr = 0;
        for (int s = 0; s < pairs.size(); s += batchSize) {
            int b = Math.min(batchSize, pairs.size() - s);
            int[][] prompts = new int[2 * b][];
            int[][] completions = new int[2 * b][];
            for (int i = 0; i < b; i++) {
                TokenizedPair p = pairs.get(s + i);
                prompts[i] = p.prompt();
                prompts[b + i] = p.prompt();
                completions[i] = p.chosen();
                completions[b + i] = p.rejected();
            }
            double[] pol = scoreLogps(policy, prompts, completions);
            double[] ref = reference.logps(prompts, completions);
            if (ref == null || ref.length != 2 * b) {
                throw new IllegalArgumentException("reference log-probs: expected " + 2 * b + " values, got "
                        + (ref == null ? "null" : ref.length));
            }
            for (int i = 0; i < b; i++) {
                double rc = beta * (pol[i] - ref[i]);
                double rr = beta * (pol[b + i] - ref[b + i]);
                double m = rc - rr;
                correct += m > 0 ? 1 : 0;
                margin += m;
                lpc += pol[i];
                lpr += pol[b + i];
                rwc += rc;
                rwr += rr;
            }
        }
        int n = pairs.size();
        return new PreferenceEval(n, correct / n, margin / n, lpc / n, lpr / n, rwc / n, rwr / n);
    }

    /**
     * Σ log-probs of each completion after its prompt, in one no-graph forward pass.
     *
     * @throws Align4jException naming the model when a value is NaN or infinite
     */
    static double[] scoreLogps(CausalLM model, int[][] prompts, int[][] completions) {
        int n = prompts.length;
        double[] out = new double[n];
        List<Integer> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (completions[i].length > 0) {
                rows.add(i); // an empty completion has log-prob 0 and would make a zero-size batch
            }
        }
        if (rows.isEmpty()) {
            return out;
        }
        int[][] seqs = new int[rows.size()][];
        int[] starts = new int[rows.size()];
        for (int r = 0; r < seqs.length; r++) {
            int i = rows.get(r);
            int[] p = prompts[i];
            int[] c = completions[i];
            if (p.length == 0) {
                throw new Align4jException("row " + i + " has an empty prompt: the first completion token has nothing "
                        + "to be predicted from; start prompts with BOS or any token");
            }
            int[] s = new int[p.length + c.length];
            System.arraycopy(p, 0, s, 0, p.length);
            System.arraycopy(c, 0, s, p.length, c.length);
            seqs[r] = s;
            starts[r] = p.length;
        }
        try (NDManager m = model.manager().newSubManager(); NDScope scope = new NDScope()) {
            float[] v = SequenceScorer.score(model, m, seqs, starts).logps().toFloatArray();
            for (float x : v) {
                if (!Float.isFinite(x)) { // an error naming the model, never NaN metrics
                    throw model.nonFiniteOutput("log-probabilities");
                }
            }
            for (int r = 0; r < v.length; r++) {
                out[rows.get(r)] = v[r];
            }
        }
        return out;
    }

    /**
     * For each prompt: sample from policy and reference (same SamplingOptions, seeded per prompt),
     * score both with the judge; win = policy reward &gt; reference reward (ties count ½), sample j
     * of the policy against sample j of the reference. The 95% interval of the win rate is the
     * Wilson score interval over the prompts × numSamples comparisons (ties counted as half a
     * success). klToReference = mean over the policy's samples of Σ_t [log π(y_t|·) − log ρ(y_t|·)]
     * with the stop token included when the sample ended at one (a Monte-Carlo estimate of
     * KL(π‖ρ) per sequence; exact in expectation for temperature 1 and no top-k/top-p cut).
     *
     * <p>Prompt i is sampled with seed {@link #promptSeed(long, int) promptSeed(o.seed(), i)} for
     * both models, so a model compared with itself wins exactly half.
     */
    public static JudgeEval judge(CausalLM policy, CausalLM reference, TextTokenizer tok, List<String> prompts, Judge judge,
            SamplingOptions o, boolean useChatTemplate) {
        if (policy == null || reference == null || judge == null) {
            throw new IllegalArgumentException("judge evaluation needs a policy, a reference and a judge");
        }
        if (prompts.isEmpty()) {
            throw new Align4jException("judge evaluation needs at least one prompt");
        }
        Generator gp = new Generator(policy, tok);
        Generator gr = new Generator(reference, tok);
        double rewardP = 0;
        double rewardR = 0;
        double wins = 0;
        double kl = 0;
        long comparisons = 0;
        for (int i = 0; i < prompts.size(); i++) {
            String prompt = prompts.get(i);
            int[] ids = gp.encodePrompt(prompt, useChatTemplate);
            SamplingOptions so = o.withSeed(promptSeed(o.seed(), i));
            Generator.Result rp = gp.run(ids, so, true);
            Generator.Result rr = gr.run(ids, so, true);
            int n = so.numSamples();
            for (int j = 0; j < n; j++) {
                double sp = judge.score(prompt, gp.decode(rp.tokens().get(j)));
                double sr = judge.score(prompt, gr.decode(rr.tokens().get(j)));
                rewardP += sp;
                rewardR += sr;
                wins += sp > sr ? 1 : sp == sr ? 0.5 : 0;
                comparisons++;
            }
            int[][] ps = new int[n][];
            int[][] cs = new int[n][];
            for (int j = 0; j < n; j++) {
                ps[j] = rp.prompt();
                cs[j] = rp.withStop(j);
            }
            double[] lp = scoreLogps(policy, ps, cs);
            double[] lr = policy == reference ? lp : scoreLogps(reference, ps, cs);
            for (int j = 0; j < n; j++) {
                kl += lp[j] - lr[j];
            }
        }
        double rate = wins / comparisons;
        double[] ci = wilson(rate, comparisons, Z95);
        return new JudgeEval(prompts.size(), rewardP / comparisons, rewardR / comparisons, rate, ci[0], ci[1],
                kl / comparisons);
    }

    /** The sampler seed of prompt i: a SplitMix64 mix of the run's seed and i. */
    public static long promptSeed(long seed, int i) {
        long z = seed + 0x9E3779B97F4A7C15L * (i + 1L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * The Wilson score interval of a proportion p observed over n trials:
     * (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n), clipped to [0, 1].
     */
    static double[] wilson(double p, long n, double z) {
        if (n <= 0) {
            return new double[] {0, 1};
        }
        double z2 = z * z;
        double denom = 1 + z2 / n;
        double center = (p + z2 / (2.0 * n)) / denom;
        double half = z / denom * Math.sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
        return new double[] {Math.max(0, center - half), Math.min(1, center + half)};
    }
}
