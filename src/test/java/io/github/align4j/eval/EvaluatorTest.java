package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.TinyTokenizer;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.SequenceScorer;
import io.github.align4j.model.TextTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvaluatorTest {
    @TempDir
    Path tmp;

    static List<TokenizedPair> pairs(int n, long seed) {
        Random r = new Random(seed);
        List<TokenizedPair> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new TokenizedPair(r.ints(2 + r.nextInt(4), 3, 40).toArray(), r.ints(1 + r.nextInt(5), 3, 40).toArray(),
                    r.ints(1 + r.nextInt(5), 3, 40).toArray(), i));
        }
        return out;
    }

    /** Σ log π of one completion, scored alone. */
    static double logp(CausalLM lm, int[] prompt, int[] completion) {
        int[] s = java.util.Arrays.copyOf(prompt, prompt.length + completion.length);
        System.arraycopy(completion, 0, s, prompt.length, completion.length);
        try (NDManager m = lm.manager().newSubManager()) {
            return SequenceScorer.score(lm, m, new int[][] {s}, new int[] {prompt.length}).logps().getFloat();
        }
    }

    @Test
    void aModelAgainstItselfHasZeroMarginsAndZeroAccuracy() throws Exception {
        try (CausalLM lm = TinyModels.init(TinyModels.llama(""), 1, 4f)) {
            PreferenceEval e = Evaluator.preference(lm, lm, pairs(7, 1), 0.1, 3);
            assertEquals(7, e.pairs());
            assertEquals(0.0, e.accuracy(), "a tie is not a win");
            assertEquals(0.0, e.meanMargin());
            assertEquals(0.0, e.meanChosenReward());
            assertEquals(0.0, e.meanRejectedReward());
            assertTrue(e.meanChosenLogps() < 0 && e.meanRejectedLogps() < 0);
        }
    }

    /** Every number recomputed from one-sequence SequenceScorer calls, in double. */
    @Test
    void metricsEqualHandComputedLogps() throws Exception {
        List<TokenizedPair> ps = pairs(9, 2);
        double beta = 0.5;
        try (CausalLM pol = TinyModels.init(TinyModels.llama(""), 1, 4f); CausalLM ref = TinyModels.init(TinyModels.llama(""), 2, 4f)) {
            double acc = 0;
            double margin = 0;
            double lc = 0;
            double lr = 0;
            double rc = 0;
            double rr = 0;
            for (TokenizedPair p : ps) {
                double c = beta * (logp(pol, p.prompt(), p.chosen()) - logp(ref, p.prompt(), p.chosen()));
                double r = beta * (logp(pol, p.prompt(), p.rejected()) - logp(ref, p.prompt(), p.rejected()));
                acc += c - r > 0 ? 1 : 0;
                margin += c - r;
                lc += logp(pol, p.prompt(), p.chosen());
                lr += logp(pol, p.prompt(), p.rejected());
                rc += c;
                rr += r;
            }
            int n = ps.size();
            PreferenceEval e = Evaluator.preference(pol, ref, ps, beta, 4);
            assertEquals(acc / n, e.accuracy(), 1e-12);
            assertTrue(e.accuracy() > 0 && e.accuracy() < 1, "a case with wins and losses: " + e);
            assertEquals(margin / n, e.meanMargin(), 1e-4);
            assertEquals(lc / n, e.meanChosenLogps(), 1e-4);
            assertEquals(lr / n, e.meanRejectedLogps(), 1e-4);
            assertEquals(rc / n, e.meanChosenReward(), 1e-4);
            assertEquals(rr / n, e.meanRejectedReward(), 1e-4);

            // precomputed reference values give the same result; no reference means ρ = 0
            Evaluator.ReferenceLogps fixed = (prompts, completions) -> {
                double[] v = new double[prompts.length];
                for (int i = 0; i < v.length; i++) {
                    v[i] = logp(ref, prompts[i], completions[i]);
                }
                return v;
            };
            PreferenceEval f = Evaluator.preferenceFrom(pol, fixed, ps, beta, 2);
            assertEquals(e.accuracy(), f.accuracy());
            assertEquals(e.meanMargin(), f.meanMargin(), 1e-4);
            PreferenceEval free = Evaluator.preference(pol, null, ps, beta, 9);
            assertEquals(beta * lc / n, free.meanChosenReward(), 1e-4);
            assertEquals(beta * (lc - lr) / n, free.meanMargin(), 1e-4);
        }
    }

    @Test
    void badArgumentsAreUserErrors() throws Exception {
        try (CausalLM lm = TinyModels.init(TinyModels.llama(""), 1, 1f)) {
            assertThrows(Align4jException.class, () -> Evaluator.preference(lm, lm, List.of(), 0.1, 2));
            assertThrows(Align4jException.class, () -> Evaluator.preference(lm, lm, pairs(2, 1), 0.1, 0));
            assertThrows(Align4jException.class, () -> Evaluator.preference(lm, lm, pairs(2, 1), 0, 2));
        }
    }

    /** Hand-computed Wilson intervals (z = 1.959964). */
    @Test
    void wilsonIntervalMatchesHandValues() {
        double[] w = Evaluator.wilson(0.8, 10, Evaluator.Z95);
        assertEquals(0.4901625, w[0], 1e-6);
        assertEquals(0.9433178, w[1], 1e-6);
        w = Evaluator.wilson(0.0, 10, Evaluator.Z95);
        assertEquals(0.0, w[0], 1e-12);
        assertEquals(0.2775328, w[1], 1e-6);
        w = Evaluator.wilson(1.0, 10, Evaluator.Z95);
        assertEquals(0.7224672, w[0], 1e-6);
        assertEquals(1.0, w[1], 1e-12);
        w = Evaluator.wilson(0.5, 100, Evaluator.Z95);
        assertEquals(0.5 - 0.0961685, w[0], 1e-6);
        assertEquals(0.5 + 0.0961685, w[1], 1e-6);
    }

    static final List<String> PROMPTS = List.of("Name a colour.", "What is two plus two?", "Say hello.");

    static ModelConfig tinyVocabLlama() throws Exception {
        return TinyModels.parse("{\"model_type\":\"llama\",\"vocab_size\":794,\"hidden_size\":16,\"intermediate_size\":32,"
                + "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"eos_token_id\":791}");
    }

    /** Two copies of one model sample the same completions per prompt: every comparison ties, KL is 0. */
    @Test
    void judgeOfAModelAgainstItsCopyIsAllTies() throws Exception {
        Path dir = TinyTokenizer.writeTo(tmp.resolve("tok"));
        Judge length = (p, c) -> c.length();
        try (TextTokenizer tok = TextTokenizer.load(dir, null); CausalLM a = TinyModels.init(tinyVocabLlama(), 3, 8f);
                CausalLM b = TinyModels.init(tinyVocabLlama(), 3, 8f)) {
            SamplingOptions o = new SamplingOptions(6, 1.0, 1.0, 0, 42, 2);
            JudgeEval e = Evaluator.judge(a, b, tok, PROMPTS, length, o, true);
            assertEquals(3, e.prompts());
            assertEquals(0.5, e.winRate());
            assertEquals(e.meanReward(), e.referenceMeanReward());
            assertTrue(e.winRateLow() < 0.5 && e.winRateHigh() > 0.5, e.toString());
            double[] w = Evaluator.wilson(0.5, 6, Evaluator.Z95);
            assertEquals(w[0], e.winRateLow());
            assertEquals(w[1], e.winRateHigh());
            assertEquals(0.0, e.klToReference(), 1e-6);
        }
    }

    /**
     * Against a different reference: the reward means, win rate and KL recomputed from the same
     * per-prompt seeds with the Generator and one-sequence scoring.
     */
    @Test
    void judgeNumbersEqualARecomputation() throws Exception {
        Path dir = TinyTokenizer.writeTo(tmp.resolve("tok"));
        Judge length = (p, c) -> c.length();
        try (TextTokenizer tok = TextTokenizer.load(dir, null); CausalLM pol = TinyModels.init(tinyVocabLlama(), 3, 8f);
                CausalLM ref = TinyModels.init(tinyVocabLlama(), 4, 8f)) {
            SamplingOptions o = new SamplingOptions(6, 1.0, 1.0, 0, 7, 2);
            JudgeEval e = Evaluator.judge(pol, ref, tok, PROMPTS, length, o, false);
            Generator gp = new Generator(pol, tok);
            Generator gr = new Generator(ref, tok);
            double wins = 0;
            double rp = 0;
            double rr = 0;
            double kl = 0;
            for (int i = 0; i < PROMPTS.size(); i++) {
                int[] ids = tok.encode(PROMPTS.get(i));
                SamplingOptions so = o.withSeed(Evaluator.promptSeed(7, i));
                Generator.Result a = gp.run(ids, so, true);
                Generator.Result b = gr.run(ids, so, true);
                for (int j = 0; j < 2; j++) {
                    double sa = tok.decode(a.tokens().get(j), true).length();
                    double sb = tok.decode(b.tokens().get(j), true).length();
                    wins += sa > sb ? 1 : sa == sb ? 0.5 : 0;
                    rp += sa;
                    rr += sb;
                    int[] y = a.withStop(j);
                    if (y.length > 0) {
                        kl += logp(pol, ids, y) - logp(ref, ids, y);
                    }
                }
            }
            assertEquals(wins / 6, e.winRate(), 1e-12);
            assertEquals(rp / 6, e.meanReward(), 1e-12);
            assertEquals(rr / 6, e.referenceMeanReward(), 1e-12);
            assertEquals(kl / 6, e.klToReference(), 1e-3);
            assertTrue(e.winRateLow() <= e.winRate() && e.winRate() <= e.winRateHigh());
        }
    }

    @Test
    void judgesResolveByNameAndUnknownNamesAreClearErrors() {
        Judges.register("Test-Length", (p, c) -> c.length());
        assertEquals(3.0, Judges.byName("test-length").score("", "abc"));
        Align4jException e = assertThrows(Align4jException.class, () -> Judges.byName("no-such-judge"));
        assertTrue(e.getMessage().contains("no-such-judge") && e.getMessage().contains("test-length"), e.getMessage());
    }
}
