package io.github.align4j.eval;

import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.internal.Texts;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.OnlinePairs;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import io.github.align4j.train.TrainingListener;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Online DPO (Guo et al. 2024, "Direct Language Model Alignment from Online AI Feedback"; TRL's
 * OnlineDPOTrainer): every micro-batch samples k ≥ 2 completions per prompt from the current policy,
 * a judge ranks them, and a DPO ({@code loss_type} sigmoid) or IPO step is taken on (best, worst)
 * against the reference (the base with the adapters off under LoRA, else a frozen copy).
 *
 * <pre>{@code
 * try (CausalLM policy = CausalLM.load(dir, CausalLM.Options.training());
 *      TextTokenizer tok = TextTokenizer.load(dir)) {
 *     TrainResult r = OnlineDpo.builder().config(cfg).policy(policy).tokenizer(tok).prompts(prompts)
 *             .judge((prompt, completion) -> myReward(prompt, completion))   // or .pairwiseJudge(...)
 *             .sampling(new SamplingOptions(64, 1.0, 1.0, 0, 0, 2)).output(Path.of("runs/online"))
 *             .build().train();
 * }
 * }</pre>
 *
 * <p>The training itself is {@link PreferenceTrainer}'s (AdamW, schedule, checkpoints, exact resume,
 * metrics.jsonl); the prompts take the place of pairs in its data order. Sampling runs outside the
 * gradient collector; its seed is derived from (sampling seed, config seed, step, micro-batch, prompt),
 * so a resumed run samples what the uninterrupted run sampled.
 *
 * <p>Ranking: a {@link Judge} scores each completion (a completion without EOS loses
 * {@code missing_eos_penalty}); best = the first highest score, worst = the last lowest. A
 * {@link PairwiseJudge} compares every two completions (k(k−1)/2 comparisons; the LLM judge asks each
 * in both orders); a completion's score is its wins (a tie counts ½), less the penalty. When every
 * completion scores the same, the first is chosen and the last rejected, as TRL keeps a tied pair.
 *
 * <p>Logged besides the paired metrics: TRL's {@code objective/kl}, {@code objective/entropy},
 * {@code objective/non_score_reward}, {@code objective/rlhf_reward} and {@code objective/scores},
 * {@code objective/scores_margin} (score judges), {@code val/contain_eos_token}, {@code beta}. The KL,
 * entropy and rewards are over the trained pair's two completions (all of them when k = 2, as in TRL).
 */
public final class OnlineDpo {
    static {
        Offline.ensure();
    }

    private final Builder b;
    private final TrainConfig cfg;
    private final Generator generator;
    private final List<int[]> promptIds = new ArrayList<>();
    private final List<Integer> budgets = new ArrayList<>();
    private final AtomicLong judgeCalls = new AtomicLong();
    private final List<Double> betas;
    private volatile PreferenceTrainer trainer;

    private OnlineDpo(Builder b) {
        this.b = b;
        if (b.config == null || b.policy == null || b.tokenizer == null || b.prompts == null) {
            throw new Align4jException("OnlineDpo needs config, policy, tokenizer and prompts (OnlineDpo.Builder)");
        }
        this.cfg = b.config.validated();
        String lt = cfg.lossSpec().type().toLowerCase(Locale.ROOT);
        if (!cfg.lossSpec().weights().isEmpty() || !(lt.equals("sigmoid") || lt.equals("dpo") || lt.equals("ipo"))) {
            throw new Align4jException("online DPO trains loss_type sigmoid (DPO) or ipo, as TRL's OnlineDPOTrainer does; got "
                    + (cfg.lossSpec().weights().isEmpty() ? "loss_type '" + cfg.lossSpec().type() + "'" : "loss_weights") + " (--loss-type)");
        }
        if ((b.judge == null) == (b.pairwise == null)) {
            throw new Align4jException("online DPO needs exactly one judge: a reward function (Builder.judge) or a pairwise "
                    + "judge (Builder.pairwiseJudge, e.g. an LLM judge)");
        }
        if (b.sampling.numSamples() < 2) {
            throw new Align4jException("online DPO samples k ≥ 2 completions per prompt to rank (--num-samples), got "
                    + b.sampling.numSamples());
        }
        if (b.prompts.isEmpty()) {
            throw new Align4jException("online DPO has no prompts: give at least one");
        }
        if (!(b.missingEosPenalty >= 0) || Double.isInfinite(b.missingEosPenalty)) {
            throw new Align4jException("missing_eos_penalty must be a finite number ≥ 0 (--missing-eos-penalty), got "
                    + b.missingEosPenalty);
        }
        this.betas = b.betas != null ? List.copyOf(b.betas) : List.of(cfg.lossSpec().beta());
        if (betas.isEmpty() || betas.stream().anyMatch(x -> !(x > 0) || x.isInfinite())) {
            throw new Align4jException("beta must be one or more finite numbers > 0 (one per epoch; the last is kept), got "
                    + betas);
        }
        this.generator = new Generator(b.policy, b.tokenizer);
        int maxPos = b.policy.config().maxPositions();
        for (int i = 0; i < b.prompts.size(); i++) {
            int[] ids = generator.encodePrompt(b.prompts.get(i), b.useChatTemplate);
            if (cfg.data().maxPromptLength() > 0 && ids.length > cfg.data().maxPromptLength()) { // cut from the left, as DPO data is
                ids = Arrays.copyOfRange(ids, ids.length - cfg.data().maxPromptLength(), ids.length);
            }
            int room = maxPos - ids.length - 1; // the stop token is scored too
            if (cfg.data().maxLength() > 0) {
                room = Math.min(room, cfg.data().maxLength() - ids.length - 1);
            }
            int budget = Math.min(b.sampling.maxNewTokens(), room);
            if (budget < 1) {
                throw new Align4jException("prompt " + i + " (0-based) has " + ids.length + " tokens: no room for a completion "
                        + "under max_length " + cfg.data().maxLength() + " and the model's " + maxPos + " positions; lower "
                        + "max_prompt_length (--max-prompt-length) or raise max_length (--max-length)");
            }
            promptIds.add(ids);
            budgets.add(budget);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Judge calls so far: one per scored completion, one per comparison for a pairwise judge. */
    public long judgeCalls() {
        return judgeCalls.get();
    }

    /** Optimizer steps of the run. */
    public long totalSteps() {
        return PreferenceTrainer.totalSteps(promptIds.size(), cfg);
    }

    /** Asks a running {@link #train()} to stop after its step, with a checkpoint ({@link PreferenceTrainer#requestStop}). */
    public void requestStop(String why) {
        PreferenceTrainer t = trainer;
        if (t != null) {
            t.requestStop(why);
        }
    }

    /** Trains; writes metrics.jsonl, checkpoints and final/ to the output folder when one is given. */
    public PreferenceTrainer.TrainResult train() {
        List<TokenizedPair> plan = new ArrayList<>();
        for (int i = 0; i < promptIds.size(); i++) {
            int[] longest = new int[budgets.get(i) + 1];
            plan.add(new TokenizedPair(promptIds.get(i), longest, longest, i));
        }
        PreferenceTrainer.Builder tb = PreferenceTrainer.builder()
                .config(cfg.with("beta", betas.get(0), "online DPO"))
                .policy(b.policy).online(plan, this::pairs).output(b.output).console(b.console).resume(b.resume);
        if (b.overwrite != null) {
            tb.overwrite(b.overwrite);
        }
        if (b.tokenizerDir != null) {
            tb.tokenizerDir(b.tokenizerDir);
        }
        if (b.evalPairs != null) {
            tb.evalPairs(b.evalPairs);
        }
        b.listeners.forEach(tb::listener);
        try (PreferenceTrainer t = tb.build()) {
            trainer = t;
            return t.train();
        } finally {
            trainer = null;
        }
    }

    /** Seed of the samples of one prompt at one step: a resumed run draws what the uninterrupted run drew. */
    static long sampleSeed(long samplingSeed, long configSeed, long step, int micro, int prompt) {
        long base = Evaluator.promptSeed(samplingSeed * 1_000_003L + configSeed, (int) (step & 0x7fffffff));
        return Evaluator.promptSeed(base + micro * 0x9E3779B97F4A7C15L, prompt);
    }

    /** The pairs of one micro-batch: k samples per prompt, ranked, (best, worst) kept. */
    OnlinePairs.Batch pairs(long step, int epoch, int micro, int[] prompts) {
        double beta = betas.get(Math.min(epoch, betas.size() - 1));
        List<TokenizedPair> out = new ArrayList<>(prompts.length);
        int k = b.sampling.numSamples();
        double scoreSum = 0;
        double pairScoreSum = 0;
        double marginSum = 0;
        int eos = 0;
        for (int p : prompts) {
            String prompt = b.prompts.get(p);
            SamplingOptions o = new SamplingOptions(budgets.get(p), b.sampling.temperature(), b.sampling.topP(),
                    b.sampling.topK(), sampleSeed(b.sampling.seed(), cfg.optimization().seed(), step, micro, p), k);
            Generator.Result r = generator.run(promptIds.get(p), o, true);
            List<String> texts = new ArrayList<>(k);
            for (int j = 0; j < k; j++) {
                texts.add(generator.decode(r.tokens().get(j)));
                eos += r.stopped()[j] ? 1 : 0;
            }
            double[] s = b.judge != null ? scores(b.judge, prompt, texts) : wins(b.pairwise, prompt, texts);
            for (int j = 0; j < k; j++) {
                if (!r.stopped()[j]) {
                    s[j] -= b.missingEosPenalty;
                }
                scoreSum += s[j];
            }
            int[] bw = bestWorst(s);
            out.add(new TokenizedPair(r.prompt(), r.withStop(bw[0]), r.withStop(bw[1]), p));
            pairScoreSum += (s[bw[0]] + s[bw[1]]) / 2;
            marginSum += s[bw[0]] - s[bw[1]];
        }
        Map<String, Double> m = new LinkedHashMap<>();
        int n = prompts.length;
        if (b.judge != null) {
            m.put("objective/scores", scoreSum / (n * k));
            m.put("objective/scores_margin", marginSum / n);
        }
        m.put("val/contain_eos_token", (double) eos / (n * k));
        return new OnlinePairs.Batch(out, beta, b.judge != null ? pairScoreSum / n : Double.NaN, m);
    }

    private double[] scores(Judge judge, String prompt, List<String> texts) {
        double[] s = new double[texts.size()];
        for (int j = 0; j < s.length; j++) {
            s[j] = judge.score(prompt, texts.get(j));
            judgeCalls.incrementAndGet();
            if (!Double.isFinite(s[j])) {
                throw new Align4jException("the judge gave a score that is not a finite number (" + s[j] + ") at prompt "
                        + Texts.printable(prompt.length() > 80 ? prompt.substring(0, 80) + "…" : prompt));
            }
        }
        return s;
    }

    /** Each completion's wins against every other (a tie counts ½). */
    double[] wins(PairwiseJudge judge, String prompt, List<String> texts) {
        double[] w = new double[texts.size()];
        for (int i = 0; i < w.length; i++) {
            for (int j = i + 1; j < w.length; j++) {
                int c = judge.compare(prompt, texts.get(i), texts.get(j));
                judgeCalls.incrementAndGet();
                if (c > 0) {
                    w[i] += 1;
                } else if (c < 0) {
                    w[j] += 1;
                } else {
                    w[i] += 0.5;
                    w[j] += 0.5;
                }
            }
        }
        return w;
    }

    /**
     * {best, worst}: the first highest score and the last lowest; all equal gives {0, k−1} (TRL trains a
     * tied pair with the first as chosen).
     */
    static int[] bestWorst(double[] s) {
        int best = 0;
        int worst = s.length - 1;
        for (int j = 1; j < s.length; j++) {
            if (s[j] > s[best]) {
                best = j;
            }
        }
        for (int j = s.length - 2; j >= 0; j--) {
            if (s[j] < s[worst]) {
                worst = j;
            }
        }
        return new int[] {best, worst};
    }

    /** Builds an {@link OnlineDpo}. */
    public static final class Builder {
        private TrainConfig config;
        private CausalLM policy;
        private TextTokenizer tokenizer;
        private List<String> prompts;
        private boolean useChatTemplate = true;
        private Judge judge;
        private PairwiseJudge pairwise;
        private SamplingOptions sampling = new SamplingOptions(64, 0.9, 1.0, 0, 0, 2);
        private double missingEosPenalty;
        private List<Double> betas;
        private Path output;
        private Path tokenizerDir;
        private boolean resume;
        private Boolean overwrite;
        private PrintStream console;
        private List<TokenizedPair> evalPairs;
        private final List<TrainingListener> listeners = new ArrayList<>();

        private Builder() {}

        /**
         * The trainer's settings: {@code loss_type} sigmoid (or dpo) or ipo, {@code beta}, the optimizer,
         * schedule, batch (prompts per micro-batch), steps or epochs over the prompts, {@code seed},
         * {@code max_length} / {@code max_prompt_length}, logging and checkpoints.
         */
        public Builder config(TrainConfig c) { this.config = c; return this; }
        /** The policy (trainable, or a frozen base with LoRA adapters: the reference is then the base). */
        public Builder policy(CausalLM p) { this.policy = p; return this; }
        public Builder tokenizer(TextTokenizer t) { this.tokenizer = t; return this; }
        /** The prompts, as text. */
        public Builder prompts(List<String> p) { this.prompts = List.copyOf(p); return this; }
        /** Whether prompts go through the tokenizer's chat template (default true; false for already rendered ones). */
        public Builder useChatTemplate(boolean u) { this.useChatTemplate = u; return this; }
        /** A reward function that scores each completion (higher is better); deterministic. */
        public Builder judge(Judge j) { this.judge = j; return this; }
        /** A judge that compares two completions (e.g. {@link LlmPairJudge}); deterministic or cached. */
        public Builder pairwiseJudge(PairwiseJudge j) { this.pairwise = j; return this; }
        /**
         * How completions are sampled: {@code maxNewTokens} is TRL's {@code max_new_tokens}, {@code numSamples}
         * the k ≥ 2 completions per prompt, {@code seed} mixed into every step's seed (default: TRL's
         * 64 tokens at temperature 0.9, k = 2).
         */
        public Builder sampling(SamplingOptions o) { this.sampling = Objects.requireNonNull(o); return this; }
        /** TRL's {@code missing_eos_penalty}: subtracted from the score of a completion that did not end at EOS (default 0). */
        public Builder missingEosPenalty(double p) { this.missingEosPenalty = p; return this; }
        /** β per epoch (TRL's list-valued {@code beta}); the last is kept for later epochs. Default: the config's beta. */
        public Builder betas(List<Double> b) { this.betas = List.copyOf(b); return this; }
        public Builder output(Path o) { this.output = o; return this; }
        /** Tokenizer files copied into every checkpoint (default: the policy's folder). */
        public Builder tokenizerDir(Path d) { this.tokenizerDir = d; return this; }
        public Builder resume(boolean r) { this.resume = r; return this; }
        public Builder overwrite(boolean o) { this.overwrite = o; return this; }
        public Builder console(PrintStream c) { this.console = c; return this; }
        /** Held-out pairs for the trainer's evaluation (optional). */
        public Builder evalPairs(List<TokenizedPair> e) { this.evalPairs = e; return this; }
        public Builder listener(TrainingListener l) { this.listeners.add(Objects.requireNonNull(l)); return this; }

        public OnlineDpo build() {
            return new OnlineDpo(this);
        }
    }
}
