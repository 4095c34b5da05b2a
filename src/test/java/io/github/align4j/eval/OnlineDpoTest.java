package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.OnlinePairs;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import io.github.align4j.train.TrainingListener;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Online DPO: ranking and pair selection by hand, TRL's metrics recomputed by hand on the demo's
 * tiny model, reward going up on the embedded task, exact resume, LoRA, the pairwise LLM judge.
 */
class OnlineDpoTest {
    static {
        Offline.ensure();
    }

    static final CausalLM.Options TRAIN = new CausalLM.Options(Device.cpu(), true, DataType.FLOAT32);
    static final CausalLM.Options FROZEN = new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32);

    @TempDir
    static Path shared;
    static Path sft;
    static List<String> prompts;

    @BeforeAll
    static void sftModel() {
        sft = shared.resolve("sft");
        Demo.sft(new Demo.Options(shared, List.of("dpo"), List.of(0.1), 3, 1, 64, 2, 8, 400, 4, 4, 8, 1e-3, 2, 2, 1), sft,
                null);
        prompts = DemoCorpus.trainPrompts().stream().map(DemoCorpus.Prompt::text).toList();
    }

    static TrainConfig config(int steps, int seed, double lr) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("learning_rate", lr);
        m.put("lr_scheduler_type", "constant");
        m.put("max_steps", steps);
        m.put("per_device_train_batch_size", 4);
        m.put("beta", 0.1);
        m.put("seed", seed);
        m.put("logging_steps", 1);
        m.put("device", "cpu");
        m.put("shuffle", false);
        return TrainConfig.defaults().with(m, "test");
    }

    static OnlineDpo.Builder online(CausalLM policy, TextTokenizer tok, TrainConfig cfg, long samplingSeed) {
        return OnlineDpo.builder().config(cfg).policy(policy).tokenizer(tok).prompts(prompts).useChatTemplate(false)
                .judge(ReviewJudge.INSTANCE).sampling(new SamplingOptions(24, 1.0, 1.0, 0, samplingSeed, 2))
                .tokenizerDir(sft);
    }

    // ---- ranking by hand ---------------------------------------------------------------------------

    @Test
    void bestIsTheFirstHighestAndWorstTheLastLowest() {
        assertArrayEquals(new int[] {1, 3}, OnlineDpo.bestWorst(new double[] {0.5, 1, 1, -3}));
        assertArrayEquals(new int[] {2, 1}, OnlineDpo.bestWorst(new double[] {0, -1, 1.5, -1 + 1e-9}));
        assertArrayEquals(new int[] {0, 2}, OnlineDpo.bestWorst(new double[] {2, -1, -1}));
        // all tied: TRL keeps the pair, the first as chosen
        assertArrayEquals(new int[] {0, 1}, OnlineDpo.bestWorst(new double[] {-3, -3}));
        assertArrayEquals(new int[] {0, 3}, OnlineDpo.bestWorst(new double[] {7, 7, 7, 7}));
    }

    @Test
    void pairwiseWinsCountEveryComparisonOnceWithTiesAsHalves() throws Exception {
        try (TextTokenizer tok = TextTokenizer.load(sft, DemoCorpus.EOS_ID);
                CausalLM lm = CausalLM.load(sft, TRAIN)) {
            OnlineDpo od = OnlineDpo.builder().config(config(1, 1, 1e-3)).policy(lm).tokenizer(tok).prompts(prompts)
                    .useChatTemplate(false).pairwiseJudge((p, a, b) -> Integer.compare(a.length(), b.length()))
                    .sampling(new SamplingOptions(8, 1, 1, 0, 0, 4)).build();
            List<String> seen = new ArrayList<>();
            // longer is better; "bb" and "cc" tie
            double[] w = od.wins((p, a, b) -> {
                seen.add(a + "|" + b);
                return Integer.compare(a.length(), b.length());
            }, "p", List.of("bb", "a", "dddd", "cc"));
            assertArrayEquals(new double[] {1.5, 0, 3, 1.5}, w);
            assertEquals(List.of("bb|a", "bb|dddd", "bb|cc", "a|dddd", "a|cc", "dddd|cc"), seen);
            assertEquals(6, od.judgeCalls());
            assertArrayEquals(new int[] {2, 1}, OnlineDpo.bestWorst(w));
        }
    }

    @Test
    void pairsAreTheBestAndWorstSampleWithTheMissingEosPenalty() throws Exception {
        try (TextTokenizer tok = TextTokenizer.load(sft, DemoCorpus.EOS_ID);
                CausalLM lm = CausalLM.load(sft, TRAIN)) {
            int k = 4;
            OnlineDpo od = online(lm, tok, config(1, 5, 1e-3), 11).sampling(new SamplingOptions(6, 1.0, 1, 0, 11, k))
                    .missingEosPenalty(2.0).build();
            OnlinePairs.Batch b = od.pairs(3, 0, 1, new int[] {0, 5});
            Generator g = new Generator(lm, tok);
            double scoreSum = 0;
            int eos = 0;
            for (int i = 0; i < 2; i++) {
                int p = new int[] {0, 5}[i];
                Generator.Result r = g.run(g.encodePrompt(prompts.get(p), false),
                        new SamplingOptions(6, 1.0, 1, 0, OnlineDpo.sampleSeed(11, 5, 3, 1, p), k), true);
                double[] s = new double[k];
                for (int j = 0; j < k; j++) {
                    s[j] = ReviewJudge.INSTANCE.score(prompts.get(p), g.decode(r.tokens().get(j)))
                            - (r.stopped()[j] ? 0 : 2.0);
                    scoreSum += s[j];
                    eos += r.stopped()[j] ? 1 : 0;
                }
                int[] bw = OnlineDpo.bestWorst(s);
                TokenizedPair pair = b.pairs().get(i);
                assertArrayEquals(r.withStop(bw[0]), pair.chosen());
                assertArrayEquals(r.withStop(bw[1]), pair.rejected());
                assertEquals(p, pair.row());
            }
            assertEquals(scoreSum / (2 * k), b.metrics().get("objective/scores"), 1e-12);
            assertEquals((double) eos / (2 * k), b.metrics().get("val/contain_eos_token"), 1e-12);
            assertTrue(eos < 2 * k, "6 tokens are too few for some samples: the penalty is exercised");
            assertEquals(8, od.judgeCalls());
        }
    }

    // ---- metrics by hand ----------------------------------------------------------------------------

    @Test
    void metricsAreTrlsRecomputedByHand(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        List<Map<String, Double>> steps = new ArrayList<>();
        TrainConfig cfg = config(2, 2, 5e-3).with("save_steps", 1, "test");
        try (TextTokenizer tok = TextTokenizer.load(sft, DemoCorpus.EOS_ID); CausalLM lm = CausalLM.load(sft, TRAIN)) {
            online(lm, tok, cfg, 4).betas(List.of(0.2)).output(out).listener(new TrainingListener() {
                @Override
                public void onStepEnd(long step, Map<String, Double> metrics) {
                    steps.add(metrics);
                }
            }).build().train();
        }
        // step 2 (0-based 1) sampled its pairs from checkpoint-1's weights: sample them again and score by hand
        try (TextTokenizer tok = TextTokenizer.load(sft, DemoCorpus.EOS_ID);
                CausalLM after1 = CausalLM.load(out.resolve("checkpoint-1"), TRAIN);
                CausalLM ref = CausalLM.load(sft, FROZEN)) {
            OnlineDpo od = online(after1, tok, cfg, 4).betas(List.of(0.2)).build();
            OnlinePairs.Batch b = od.pairs(1, 0, 0, new int[] {4, 5, 6, 7}); // no shuffle: step 2 takes prompts 4..7
            int n = b.pairs().size();
            int[][] ps = new int[2 * n][];
            int[][] cs = new int[2 * n][];
            for (int i = 0; i < n; i++) {
                ps[i] = ps[n + i] = b.pairs().get(i).prompt();
                cs[i] = b.pairs().get(i).chosen();
                cs[n + i] = b.pairs().get(i).rejected();
            }
            double[] lp = Evaluator.scoreLogps(after1, ps, cs);
            double[] lr = Evaluator.scoreLogps(ref, ps, cs);
            double beta = 0.2;
            double kl = 0;
            double ent = 0;
            double rc = 0;
            double rr = 0;
            double acc = 0;
            for (int i = 0; i < 2 * n; i++) {
                kl += (lp[i] - lr[i]) / (2 * n);
                ent -= lp[i] / (2 * n);
            }
            for (int i = 0; i < n; i++) {
                rc += beta * (lp[i] - lr[i]) / n;
                rr += beta * (lp[n + i] - lr[n + i]) / n;
                acc += (lp[i] - lr[i] > lp[n + i] - lr[n + i] ? 1.0 : 0) / n;
            }
            Map<String, Double> m = steps.get(1);
            double tol = 2e-4;
            assertTrue(Math.abs(kl) > 1e-3, "the policy moved after one step: kl " + kl);
            assertEquals(kl, m.get("objective/kl"), tol * Math.max(1, Math.abs(kl)));
            assertEquals(ent, m.get("objective/entropy"), tol * ent);
            assertEquals(-beta * kl, m.get("objective/non_score_reward"), tol);
            assertEquals(rc, m.get("rewards/chosen"), tol);
            assertEquals(rr, m.get("rewards/rejected"), tol);
            assertEquals(rc - rr, m.get("rewards/margins"), tol);
            assertEquals(acc, m.get("rewards/accuracies"), 1e-9);
            assertEquals(b.metrics().get("objective/scores"), m.get("objective/scores"), 1e-9);
            assertEquals(b.metrics().get("objective/scores_margin"), m.get("objective/scores_margin"), 1e-9);
            assertEquals(b.pairScore() - beta * kl, m.get("objective/rlhf_reward"), tol);
            assertEquals(b.metrics().get("val/contain_eos_token"), m.get("val/contain_eos_token"), 1e-12);
            assertEquals(0.2, m.get("beta"), 0);
            // step 1: the policy is the reference, so KL is 0
            assertEquals(0, steps.get(0).get("objective/kl"), 1e-4);
        }
    }

    @Test
    void betaPerEpochTakesTheLastForLaterEpochs() throws Exception {
        List<Double> betas = new ArrayList<>();
        try (TextTokenizer tok = TextTokenizer.load(sft, DemoCorpus.EOS_ID); CausalLM lm = CausalLM.load(sft, TRAIN)) {
            // 6 steps of 8 prompts over 16 prompts: 2 steps an epoch, epochs 0, 0, 1, 1, 2, 2
            TrainConfig cfg = config(6, 1, 1e-4).with("per_device_train_batch_size", 8, "test");
            online(lm, tok, cfg, 1).prompts(prompts.subList(0, 16)).betas(List.of(0.5, 0.25))
                    .sampling(new SamplingOptions(4, 1.0, 1, 0, 1, 2)).listener(new TrainingListener() {
                        @Override
                        public void onStepEnd(long step, Map<String, Double> metrics) {
                            betas.add(metrics.get("beta"));
                        }
                    }).build().train();
        }
        assertEquals(List.of(0.5, 0.5, 0.25, 0.25, 0.25, 0.25), betas);
    }

    // ---- the embedded task ------------------------------------------------------------------------

    @Test
    void aFewOnlineStepsRaiseTheJudgesRewardOnTwoSeeds() throws Exception {
        for (int seed : new int[] {1, 2}) {
            try (TextTokenizer tok = TextTokenizer.load(sft, DemoCorpus.EOS_ID);
                    CausalLM lm = CausalLM.load(sft, TRAIN);
                    CausalLM ref = CausalLM.load(sft, FROZEN)) {
                int steps = 40;
                double lr = 1e-3;
                int k = 4;
                OnlineDpo od = online(lm, tok, config(steps, seed, lr), seed)
                        .sampling(new SamplingOptions(24, 1.0, 1.0, 0, seed, k)).build();
                od.train();
                assertEquals(steps * 4L * k, od.judgeCalls());
                List<String> heldOut = DemoCorpus.heldOutPrompts().stream().map(DemoCorpus.Prompt::text).toList();
                JudgeEval e = Evaluator.judge(lm, ref, tok, heldOut, ReviewJudge.INSTANCE,
                        new SamplingOptions(24, 1.0, 1.0, 0, 100 + seed, 8), false);
                // measured: win rate 0.72–0.78 and reward +0.9 to +1.1 over SFT on seeds 1 and 2 with ATEN_CPU_CAPABILITY
                // avx512 (this machine's), avx2 and default: the margins hold whichever kernels run. With attention forced
                // fused (ALIGN4J_ATTENTION=fused; these short rows run materialized by default), 0.74–0.82 and +1.0 to +1.5 at
                // the suite's one thread under all three. Not every rounding holds: at two threads, avx512 and forced fused
                // attention, seed 2's run collapsed (reward −2.06 vs SFT −0.84, win rate 0.26) while the other five
                // kernel/attention pairs at two threads gave +0.8 to +1.4, so the suite keeps one thread (BenchCommandTest
                // restores it after the command line sets two)
                assertTrue(e.meanReward() > e.referenceMeanReward() + 0.3 && e.winRate() > 0.6,
                        "seed " + seed + ": reward " + e.meanReward() + " vs SFT " + e.referenceMeanReward() + ", win rate "
                                + e.winRate());
            }
        }
    }

    // ---- resume and LoRA -------------------------------------------------------------------------------

    @Test
    void aResumedRunIsBitIdentical(@TempDir Path dir) throws Exception {
        TrainConfig cfg = config(4, 3, 1e-3).with("save_steps", 2, "test").with("shuffle", true, "test");
        Map<String, float[]> whole = run(cfg, dir.resolve("whole"), false, -1);
        run(cfg, dir.resolve("split"), false, 2);
        Map<String, float[]> resumed = run(cfg, dir.resolve("split"), true, -1);
        assertEquals(whole.keySet(), resumed.keySet());
        whole.forEach((k, v) -> assertArrayEquals(v, resumed.get(k), 0f, k));
        assertEquals(metrics(dir.resolve("whole")), metrics(dir.resolve("split")));
    }

    private static Map<String, float[]> run(TrainConfig cfg, Path out, boolean resume, long stopAt) throws Exception {
        try (TextTokenizer tok = TextTokenizer.load(sft, DemoCorpus.EOS_ID); CausalLM lm = CausalLM.load(sft, TRAIN)) {
            OnlineDpo[] self = new OnlineDpo[1];
            self[0] = online(lm, tok, cfg, 9).output(out).resume(resume).listener(new TrainingListener() {
                @Override
                public void onStepEnd(long step, Map<String, Double> metrics) {
                    if (step == stopAt) {
                        self[0].requestStop("test");
                    }
                }
            }).build();
            PreferenceTrainer.TrainResult r = self[0].train();
            assertEquals(stopAt > 0, r.stopped());
            Map<String, float[]> w = new LinkedHashMap<>();
            for (Map.Entry<String, NDArray> e : lm.parameters().entrySet()) {
                w.put(e.getKey(), e.getValue().toFloatArray());
            }
            return w;
        }
    }

    private static List<String> metrics(Path out) throws Exception {
        List<String> m = new ArrayList<>();
        for (String l : java.nio.file.Files.readAllLines(out.resolve("metrics.jsonl"))) {
            m.add(l.replaceAll("\"(tokens_per_second|elapsed_s|time)\":[^,}]*,?", ""));
        }
        return m;
    }

    @Test
    void loraTrainsTheAdaptersAgainstTheBaseWithAdaptersOff() throws Exception {
        List<Map<String, Double>> steps = new ArrayList<>();
        try (TextTokenizer tok = TextTokenizer.load(sft, DemoCorpus.EOS_ID);
                CausalLM lm = CausalLM.load(sft, FROZEN).addAdapters(
                        LoraConfig.defaults().withR(4).withAlpha(8).withTargetModules(List.of("all-linear")), 5)) {
            Map<String, float[]> base = new LinkedHashMap<>();
            lm.parameters().forEach((k, v) -> base.put(k, v.toFloatArray()));
            Map<String, float[]> adapters = new LinkedHashMap<>();
            lm.trainableParameters().forEach((k, v) -> adapters.put(k, v.toFloatArray()));
            online(lm, tok, config(3, 1, 5e-3), 2).listener(new TrainingListener() {
                @Override
                public void onStepEnd(long step, Map<String, Double> metrics) {
                    steps.add(metrics);
                }
            }).build().train();
            lm.parameters().forEach((k, v) -> assertArrayEquals(base.get(k), v.toFloatArray(), 0f, k));
            boolean moved = false;
            for (Map.Entry<String, NDArray> e : lm.trainableParameters().entrySet()) {
                moved |= !java.util.Arrays.equals(adapters.get(e.getKey()), e.getValue().toFloatArray());
            }
            assertTrue(moved, "the adapters trained");
        }
        assertEquals(0, steps.get(0).get("objective/kl"), 1e-4); // adapters start at B = 0: policy = reference
        assertTrue(Math.abs(steps.get(2).get("objective/kl")) > 1e-4, "the reference is the base, not the policy: " + steps);
    }

    // ---- refusals and the LLM judge ----------------------------------------------------------------------

    @Test
    void refusesWhatOnlineDpoCannotTrain() throws Exception {
        try (TextTokenizer tok = TextTokenizer.load(sft, DemoCorpus.EOS_ID); CausalLM lm = CausalLM.load(sft, TRAIN)) {
            String m = assertThrows(Align4jException.class, () -> online(lm, tok, config(1, 1, 1e-3).with("loss_type", "kto",
                    "test"), 1).build()).getMessage();
            assertTrue(m.contains("sigmoid") && m.contains("ipo"), m);
            m = assertThrows(Align4jException.class, () -> online(lm, tok, config(1, 1, 1e-3), 1)
                    .sampling(SamplingOptions.sampling(8, 1.0)).build()).getMessage();
            assertTrue(m.contains("k ≥ 2"), m);
            m = assertThrows(Align4jException.class, () -> online(lm, tok, config(1, 1, 1e-3), 1)
                    .pairwiseJudge((p, a, b) -> 0).build()).getMessage();
            assertTrue(m.contains("exactly one judge"), m);
            m = assertThrows(Align4jException.class, () -> online(lm, tok, config(1, 1, 1e-3)
                    .with("precompute_ref_log_probs", true, "test"), 1).build().train()).getMessage();
            assertTrue(m.contains("precompute_ref_log_probs"), m);
            m = assertThrows(Align4jException.class, () -> online(lm, tok, config(1, 1, 1e-3), 1).betas(List.of(0.1, -1.0))
                    .build()).getMessage();
            assertTrue(m.contains("beta"), m);
            // a judge's NaN never becomes a ranking: the run stops with a message naming the prompt
            m = assertThrows(Align4jException.class, () -> online(lm, tok, config(1, 1, 1e-3), 1)
                    .judge((p, c) -> Double.NaN).build().train()).getMessage();
            assertTrue(m.contains("not a finite number") && m.contains(prompts.get(0)), m);
        }
    }

    @Test
    void theLlmPairJudgeAsksBothOrdersAndCountsOnlyAgreementAsAWin(@TempDir Path dir) throws Exception {
        // the server prefers the answer that mentions "good", whichever position it is in
        try (JudgeServer s = new JudgeServer(r -> {
            String u = r.user();
            int a = u.indexOf("[The Start of Assistant A's Answer]");
            int bpos = u.indexOf("[The Start of Assistant B's Answer]");
            String ansA = u.substring(a, bpos);
            String ansB = u.substring(bpos);
            boolean ga = ansA.contains("good");
            boolean gb = ansB.contains("good");
            return JudgeServer.Action.reply(ga == gb ? "[[C]]" : ga ? "[[A]]" : "[[B]]");
        })) {
            ChatClient c = new ChatClient(ChatClient.Options.of(s.url(), "judge").withPlainHttp(true)
                    .withCache(dir.resolve("cache.jsonl")));
            LlmPairJudge j = new LlmPairJudge(c);
            assertEquals(1, j.compare("q", "it is good .", "it is bad ."));
            assertEquals(-1, j.compare("q", "it is bad .", "it is good ."));
            assertEquals(0, j.compare("q", "it is ok .", "it is bad ."));
            // 4 distinct prompts: the second comparison's orders are the first one's, swapped (cached)
            assertEquals(4, s.requests());
            assertEquals(1, j.compare("q", "it is good .", "it is bad ."));
            assertEquals(4, s.requests());
            assertFalse(j.undecided() > 0);
            // a reply without a verdict is a tie, counted, and not cached: the next run asks again
            s.script(q -> JudgeServer.Action.reply("I cannot decide."));
            assertEquals(0, j.compare("q2", "x .", "y ."));
            assertEquals(1, j.undecided());
            assertEquals(0, j.compare("q2", "x .", "y ."));
            assertEquals(8, s.requests());
        }
    }
}
