package io.github.align4j.eval;

import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link Evaluator#judge} for many policies against one reference: the reference's samples and
 * their judge scores are drawn once and reused for every cell of a sweep (same prompts, same
 * per-prompt seeds, same comparison rules: sample j against sample j, ties count ½, Wilson 95%
 * interval, KL as the mean of Σ log π − log ρ over the policy's samples).
 */
final class JudgeRun {
    private final CausalLM reference;
    private final TextTokenizer tokenizer;
    private final List<String> prompts;
    private final Judge judge;
    private final SamplingOptions options;
    private List<double[]> referenceScores; // per prompt, per sample

    JudgeRun(CausalLM reference, TextTokenizer tokenizer, List<String> prompts, Judge judge, SamplingOptions options) {
        this.reference = reference;
        this.tokenizer = tokenizer;
        this.prompts = List.copyOf(prompts);
        this.judge = judge;
        this.options = options;
    }

    int prompts() {
        return prompts.size();
    }

    /** The reference's own samples, scored (drawn on first use). */
    private List<double[]> referenceScores() {
        if (referenceScores == null) {
            Generator g = new Generator(reference, tokenizer);
            List<double[]> out = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                Generator.Result r = g.run(g.encodePrompt(prompts.get(i), false), seeded(i), true);
                double[] s = new double[r.tokens().size()];
                for (int j = 0; j < s.length; j++) {
                    s[j] = judge.score(prompts.get(i), g.decode(r.tokens().get(j)));
                }
                out.add(s);
            }
            referenceScores = out;
        }
        return referenceScores;
    }

    /** The reference's mean judge reward. */
    double referenceMeanReward() {
        double sum = 0;
        long n = 0;
        for (double[] s : referenceScores()) {
            for (double v : s) {
                sum += v;
                n++;
            }
        }
        return sum / n;
    }

    private SamplingOptions seeded(int i) {
        return options.withSeed(Evaluator.promptSeed(options.seed(), i));
    }

    /** The policy against the reference on every prompt. */
    JudgeEval evaluate(CausalLM policy) {
        List<double[]> refScores = referenceScores();
        Generator g = new Generator(policy, tokenizer);
        double rewardP = 0;
        double rewardR = 0;
        double wins = 0;
        double kl = 0;
        long comparisons = 0;
        for (int i = 0; i < prompts.size(); i++) {
            String prompt = prompts.get(i);
            Generator.Result rp = g.run(g.encodePrompt(prompt, false), seeded(i), true);
            int n = rp.tokens().size();
            int[][] ps = new int[n][];
            int[][] cs = new int[n][];
            for (int j = 0; j < n; j++) {
                double sp = judge.score(prompt, g.decode(rp.tokens().get(j)));
                double sr = refScores.get(i)[j];
                rewardP += sp;
                rewardR += sr;
                wins += sp > sr ? 1 : sp == sr ? 0.5 : 0;
                comparisons++;
                ps[j] = rp.prompt();
                cs[j] = rp.withStop(j);
            }
            double[] lp = Evaluator.scoreLogps(policy, ps, cs);
            double[] lr = Evaluator.scoreLogps(reference, ps, cs);
            for (int j = 0; j < n; j++) {
                kl += lp[j] - lr[j];
            }
        }
        double rate = wins / comparisons;
        double[] ci = Evaluator.wilson(rate, comparisons, Evaluator.Z95);
        return new JudgeEval(prompts.size(), rewardP / comparisons, rewardR / comparisons, rate, ci[0], ci[1],
                kl / comparisons);
    }
}
