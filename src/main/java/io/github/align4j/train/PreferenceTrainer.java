package io.github.align4j.train;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Kto;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.loss.UnpairedLoss;
import io.github.align4j.model.CausalLM;
import io.github.align4j.train.internal.Batches;
import io.github.align4j.model.internal.ModelDtypes;
import io.github.align4j.internal.Offline;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Preference-tunes a policy against a frozen reference with any {@link PreferenceLoss}.
 *
 * <pre>{@code
 * try (CausalLM policy = CausalLM.load(dir, CausalLM.Options.training());
 *      PreferenceTrainer t = PreferenceTrainer.builder()
 *          .config(TrainConfig.defaults().with(Map.of("beta", 0.1, "learning_rate", 5e-7), "code"))
 *          .policy(policy)                       // the reference defaults to a frozen copy
 *          .loss(Losses.create("dpo", Map.of()))
 *          .trainPairs(pairs).evalPairs(heldOut)
 *          .output(Path.of("runs/dpo"))
 *          .build()) {
 *     TrainResult r = t.train();
 * }
 * }</pre>
 *
 * <p>Each micro-batch runs chosen and rejected through one concatenated forward per model; the
 * reference runs outside the gradient collector (no graph) or comes from an on-disk cache
 * ({@code precompute_ref_log_probs}). Gradients accumulate over
 * {@code gradient_accumulation_steps} micro-batches, are clipped to {@code max_grad_norm} by global
 * norm, and AdamW updates the policy with a warmup + cosine/linear/constant schedule. Every step
 * runs inside an {@link NDScope} so that native memory stays flat.
 *
 * <p>Progress reaches {@link TrainingListener}s ({@link Builder#listener}); messages go to SLF4J,
 * and to {@link Builder#console} when one is set. <b>One training at a time per JVM:</b> DJL's
 * PyTorch engine allows one open gradient collector per JVM, so {@link #train()} refuses with an
 * {@link Align4jException} while another training (this class or {@link SftTrainer}) runs in any
 * thread; the slot is released when {@code train()} returns or throws.
 *
 * <p>This class is the facade and the wiring; package-private classes do the parts: {@code TrainerChecks}
 * (the inputs), {@code RunLoop} (one call of {@code train()}), {@code RunState} (resume state, checkpoints,
 * non-finite steps), {@code OnlineBatches} (an online run's data), {@code TrainLoop} (one optimizer step).
 */
public final class PreferenceTrainer implements AutoCloseable {
    static {
        Offline.ensure();
    }

    private static final Logger LOG = LoggerFactory.getLogger(PreferenceTrainer.class);

    // package-private: RunLoop, one call of train(), reads them
    final TrainConfig cfg;
    final CausalLM policy;
    private final PreferenceLoss loss;
    private final List<TokenizedPair> trainPairs; // as given, for ref_logps_file's rows
    private final List<TokenizedUnpaired> trainUnpaired;
    final List<TokenizedPair> evalPairs;
    final List<TokenizedUnpaired> evalUnpaired;
    final Path output;
    final PrintStream console;
    private final Path cacheDir;
    final StepListener onStep;
    final BiConsumer<Long, List<int[]>> stepRows;
    final List<TrainingListener> userListeners;
    final Batching train;
    final Reference reference;
    final RunState state;
    private TrainLoop loop;
    private final boolean resume;
    private final Boolean overwrite;
    volatile String stopRequest;
    long tokensSeen;

    private PreferenceTrainer(Builder b) {
        TrainConfig c = b.config.validated();
        // the config's loss unless one is given (not both); PreferenceRun hands over the config's loss it built
        this.loss = b.configLoss != null ? b.configLoss : ConfigUse.loss(c, b.loss);
        this.cfg = ConfigUse.recorded(c, loss, b.loss != null);
        Map<String, Object> lossRecord = ConfigUse.describe(loss, c, b.loss != null);
        this.policy = b.policy;
        List<TokenizedPair> trainPairs = b.online != null ? b.onlinePlan : b.trainPairs;
        List<TokenizedUnpaired> trainUnpaired = b.trainUnpaired;
        this.evalPairs = b.evalPairs;
        this.evalUnpaired = b.evalUnpaired;
        this.output = b.output != null ? b.output
                : c.output().dir().isEmpty() ? null : Path.of(c.output().dir()); // output_dir is the output unless one is given
        this.console = b.console;
        this.cacheDir = b.cacheDir;
        this.onStep = b.onStep;
        this.stepRows = b.stepRows;
        this.userListeners = List.copyOf(b.listeners);
        this.resume = b.resume;
        this.overwrite = b.overwrite;
        TrainerChecks.resume(resume, overwrite, output);
        TrainerChecks.policy(policy);
        ConfigUse.checkDevice(cfg, policy);
        if (!b.planned) {
            ConfigUse.checkDirect(cfg, policy, b.evalPairs != null || b.evalUnpaired != null);
        }
        ConfigUse.check(cfg, policy, trainPairs, b.trainUnpaired, "training");
        ConfigUse.check(cfg, policy, b.evalPairs, b.evalUnpaired, "eval");
        boolean paired = TrainerChecks.trainingData(policy, trainPairs, trainUnpaired);
        Lengths.check(policy, trainPairs, trainUnpaired, "training", cfg.optimization().batchSize(), true);
        Lengths.check(policy, evalPairs, evalUnpaired, "eval", cfg.optimization().evalBatchSize(), false);
        Path refPath = b.referencePath != null ? b.referencePath
                : b.reference == null && !cfg.reference().path().isEmpty() ? Path.of(cfg.reference().path()) : null;
        if (!b.planned) {
            MemoryPlan.beforeTraining(cfg, policy, b.reference, refPath, loss.needsReference(), trainPairs, trainUnpaired);
        }
        TrainerChecks.dataKind(loss, paired);
        if (b.online != null) {
            OnlineBatches.check(cfg, b.trainPairs != null || b.trainUnpaired != null);
        }
        train = b.online != null ? new OnlineBatches(trainPairs, b.online, cfg)
                : paired ? new PairedBatches(trainPairs) : new UnpairedBatches(trainUnpaired);
        this.trainPairs = trainPairs;
        this.trainUnpaired = trainUnpaired;
        DataType refType = b.referenceType;
        if (refType == null) { // torch_dtype holds a reference loaded from a folder, as align4j train does
            Path dir = refPath != null ? refPath : policy.source();
            refType = dir == null ? DataType.FLOAT32 : ModelDtypes.resolve(cfg.model().torchDtype().key(), dir);
        }
        reference = new Reference(b.reference, refPath, policy, refType).syncing(cfg.reference().sync());
        TrainerChecks.precompute(cfg, reference);
        TrainerChecks.trlOptions(cfg, loss, policy, paired);
        state = new RunState(cfg, train, lossRecord, policy, output, b.tokenizerDir, reference);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Called after every optimizer step with its wall time and the policy tokens it processed. */
    @FunctionalInterface
    public interface StepListener {
        void step(long step, double seconds, long policyTokens);
    }

    /**
     * Steps, timing and the last logged metrics of a run.
     *
     * @param finalCheckpoint the last checkpoint written: {@code OUTPUT/final} when the run
     *     completed, {@code OUTPUT/checkpoint-<steps>} when it stopped early (null without an output)
     * @param stopped whether the run stopped early at {@link #requestStop} (resume it to finish)
     */
    public record TrainResult(long steps, double epochs, Map<String, Object> lastTrain, Map<String, Object> lastEval,
            List<Map<String, Object>> history, Path finalCheckpoint, boolean stopped) {}

    /**
     * Asks a running {@link #train()} to stop: it finishes the current optimizer step, writes a
     * checkpoint and returns with {@link TrainResult#stopped()} set. Safe to call from any thread
     * (a signal handler, a UI); later calls are ignored.
     *
     * @param why named in the console message (e.g. "SIGTERM")
     */
    public void requestStop(String why) {
        if (stopRequest == null) {
            stopRequest = why == null ? "a stop request" : why;
        }
    }

    /** Whether {@link #requestStop} was called. */
    public boolean stopRequested() {
        return stopRequest != null;
    }

    /** Optimizer steps the run will take. */
    public long totalSteps() {
        return TrainLoop.totalSteps(train.size(), cfg);
    }

    /**
     * Optimizer steps of a run over {@code examples} training examples (pairs, or unpaired examples
     * for KTO): {@code max_steps} when set, else ⌈num_train_epochs × ⌈micro-batches per epoch /
     * gradient_accumulation_steps⌉⌉, as transformers computes it. Every epoch ends with its own
     * (possibly shorter) step, so no step mixes rows of two epochs.
     */
    public static long totalSteps(long examples, TrainConfig cfg) {
        return TrainLoop.totalSteps(examples, cfg);
    }

    /** Runs the whole training loop and writes {@code OUTPUT/final/}. */
    public TrainResult train() {
        long total = totalSteps();
        if (loss instanceof Kto k && train instanceof UnpairedBatches u) {
            long nd = u.desirableCount();
            Kto.checkWeights(nd, u.size() - nd, k.desirableWeight(), k.undesirableWeight())
                    .ifPresent(w -> say("warning: " + w));
        }
        try (TrainLoop.Exclusive one = TrainLoop.exclusive("a PreferenceTrainer (output " + output + ")");
                OutputLock lock = prepareOutput()) {
            return run(total);
        }
    }

    private TrainResult run(long total) {
        Checkpoints.Found from = resume ? Checkpoints.latest(output, total, this::say) : null;
        if (resume && from == null) {
            say("resume: no complete checkpoint in " + output + "; starting from the beginning");
        }
        prepareReference();
        if (loop != null) {
            loop.close();
        }
        loop = new TrainLoop(policy, cfg, total);
        return new RunLoop(this, loop, total).run(from);
    }

    /**
     * Creates and locks the output folder, refuses it when something align4j did not write is in
     * the way, tidies what an interrupted run left there, and checks that a fresh run does not mix
     * with an earlier run's checkpoints ({@link OutputFolder#open}).
     */
    private OutputLock prepareOutput() {
        return output == null ? OutputLock.NONE : OutputFolder.open(output, resume, overwrite, this::say);
    }

    List<int[]> epochBatches(int epoch) {
        return Batches.epoch(train.size(), cfg.optimization().batchSize(), cfg.optimization().seed(), epoch, cfg.optimization().shuffle(), cfg.optimization().groupByLength(),
                train::lengthOf);
    }

    boolean hasEval() {
        return (evalPairs != null && !evalPairs.isEmpty()) || (evalUnpaired != null && !evalUnpaired.isEmpty());
    }

    void say(String s) {
        if (s.startsWith("warning: ")) {
            LOG.warn(s.substring("warning: ".length()));
        } else {
            LOG.info(s);
        }
        if (console != null) {
            console.println(s);
        }
    }

    // ---- the reference -----------------------------------------------------------------------------

    Batching.Scoring scoring() {
        return new Batching.Scoring(policy, loss, cfg.lossSpec().beta(), reference, cfg.lossSpec().ldAlpha(), cfg.lossSpec().useWeighting());
    }

    private void prepareReference() {
        if (loss.needsReference()) {
            if (!cfg.reference().logpsFile().isEmpty()) { // a reference pass done elsewhere (align4j logprobs, align4j-spark logprobs)
                Path f = Path.of(cfg.reference().logpsFile());
                reference.prepare(true, cacheDir, cfg.optimization().evalBatchSize(), this::forEachReferenceRequest, this::say,
                        RefLogpsFile.read(f, trainPairs, trainUnpaired, evalPairs, evalUnpaired), f.toString());
                return;
            }
            reference.prepare(cfg.reference().precompute(), cacheDir, cfg.optimization().evalBatchSize(), this::forEachReferenceRequest, this::say);
        }
    }

    /** Every (prompt, completion) the reference will be asked for: training (all epochs' KL pairs too) and eval. */
    private void forEachReferenceRequest(BiConsumer<int[], int[]> f) {
        train.referenceRequests(f);
        if (train instanceof UnpairedBatches u && loss instanceof UnpairedLoss ul && ul.needsMismatchedPairs()) {
            Position pos = new Position(this::epochBatches); // the training's own walk through the data
            for (long step = 0, total = totalSteps(); step < total; step++) {
                for (int[] rows : TrainLoop.nextStep(pos, cfg.optimization().gradientAccumulationSteps())) {
                    u.klRequests(rows, f);
                }
            }
        }
        if (evalPairs != null) {
            new PairedBatches(evalPairs).referenceRequests(f);
        }
        if (evalUnpaired != null) {
            new UnpairedBatches(evalUnpaired).referenceRequests(f);
        }
    }

    // ---- evaluation --------------------------------------------------------------------------------

    /**
     * Held-out metrics with TRL's names and the {@code eval_} prefix: loss (when the eval data is of
     * the loss's kind), rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins,
     * logps/* and logits/*. Paired eval data gives reward accuracy for every loss, KTO included.
     */
    public Map<String, Double> evaluate() {
        if (loss.needsReference() && !reference.ready()) {
            prepareReference();
        }
        Window w = new Window();
        Batching.Scoring scoring = scoring();
        int bs = cfg.optimization().evalBatchSize();
        for (Batching data : new Batching[] {evalPairs == null ? null : new PairedBatches(evalPairs),
            evalUnpaired == null ? null : new UnpairedBatches(evalUnpaired)}) {
            for (int s = 0; data != null && s < data.size(); s += bs) {
                int[] rows = Batching.range(s, Math.min(bs, data.size() - s));
                try (NDManager mgr = policy.manager().newSubManager(); NDScope scope = new NDScope()) {
                    data.evaluate(scoring, mgr, rows, w);
                }
            }
        }
        Map<String, Object> m = w.flush(Double.NaN, 0, 0, 0);
        Map<String, Double> out = new LinkedHashMap<>();
        m.forEach((k, v) -> {
            if (v instanceof Number n && !Double.isNaN(n.doubleValue())
                    && !List.of("learning_rate", "grad_norm", "epoch", "step", "tokens_per_second", "elapsed_s").contains(k)) {
                out.put("eval_" + k, n.doubleValue());
            }
        });
        return out;
    }

    @Override
    public void close() {
        if (loop != null) {
            loop.close();
            loop = null;
        }
        reference.close();
    }

    /** Builds a trainer. */
    public static final class Builder {
        private TrainConfig config = TrainConfig.defaults();
        private CausalLM policy;
        private CausalLM reference;
        private Path referencePath;
        private DataType referenceType;
        private PreferenceLoss loss;
        private List<TokenizedPair> trainPairs;
        private List<TokenizedUnpaired> trainUnpaired;
        private List<TokenizedPair> evalPairs;
        private List<TokenizedUnpaired> evalUnpaired;
        private Path output;
        private Path tokenizerDir;
        private Path cacheDir;
        private PrintStream console;
        private StepListener onStep;
        private BiConsumer<Long, List<int[]>> stepRows;
        private final List<TrainingListener> listeners = new ArrayList<>();
        private boolean resume;
        private Boolean overwrite;
        private boolean planned;
        private PreferenceLoss configLoss;

        private OnlinePairs online;
        private List<TokenizedPair> onlinePlan;

        public Builder config(TrainConfig c) { this.config = c; return this; }
        /** The model to train (loaded with {@code CausalLM.Options.training()}). */
        public Builder policy(CausalLM p) { this.policy = p; return this; }
        /** A reference already loaded (frozen); the caller keeps ownership. */
        public Builder reference(CausalLM r) { this.reference = r; return this; }
        /**
         * A reference folder. Default: for a policy with LoRA adapters, the policy itself with its
         * adapters off (no second model in memory); else the policy's own folder, loaded frozen.
         */
        public Builder referencePath(Path p) { this.referencePath = p; return this; }
        /**
         * The precision a reference loaded from a folder is held in: FLOAT32 or FLOAT16 (half the memory; on
         * the CPU it computes in float32 all the same). Default: the config's {@code torch_dtype}.
         */
        public Builder referenceType(DataType t) { this.referenceType = t; return this; }
        /**
         * The loss to train. Without it the loss comes from the config ({@code loss_type} or
         * {@code loss_weights}, with its options and {@code loss_kwargs}); giving both a loss here and
         * loss settings in the config is refused.
         */
        public Builder loss(PreferenceLoss l) { this.loss = l; return this; }
        public Builder trainPairs(List<TokenizedPair> d) { this.trainPairs = d; return this; }
        public Builder trainUnpaired(List<TokenizedUnpaired> d) { this.trainUnpaired = d; return this; }
        public Builder evalPairs(List<TokenizedPair> d) { this.evalPairs = d; return this; }
        public Builder evalUnpaired(List<TokenizedUnpaired> d) { this.evalUnpaired = d; return this; }
        /** Where metrics.jsonl and checkpoints go (default: the config's {@code output_dir}; neither: nothing is written). */
        public Builder output(Path o) { this.output = o; return this; }
        /** Tokenizer files copied into every checkpoint (default: the policy's folder). */
        public Builder tokenizerDir(Path t) { this.tokenizerDir = t; return this; }
        /**
         * Where precomputed reference log-probs are cached (default: {@code -Dalign4j.cache}'s
         * {@code reference/} if set, else none: they are computed once per run and kept in memory; the
         * command line passes {@code ~/.cache/align4j/reference}).
         */
        public Builder cacheDir(Path c) { this.cacheDir = c; return this; }
        /**
         * Prints a progress line and the trainer's messages to this stream (the command line passes
         * {@code System.err}). Default null: nothing is printed; messages go to SLF4J (logger
         * {@code io.github.align4j.train.PreferenceTrainer}) either way.
         */
        public Builder console(PrintStream c) { this.console = c; return this; }

        /** Adds a {@link TrainingListener} (called in the order added, after metrics.jsonl and the console). */
        public Builder listener(TrainingListener l) {
            this.listeners.add(Objects.requireNonNull(l, "listener"));
            return this;
        }

        /** A callback after every optimizer step (benchmarks, progress in embedding applications). */
        public Builder onStep(StepListener l) { this.onStep = l; return this; }

        /** Tests: the micro-batches (example indices) of every optimizer step, after the step. */
        Builder stepRows(BiConsumer<Long, List<int[]>> l) { this.stepRows = l; return this; }

        /**
         * Continue the run in the output folder from its newest complete checkpoint (weights, AdamW
         * moments, schedule, data order and position, metrics); without one, start from the
         * beginning. The data and the settings that fix the data order must be the same.
         */
        public Builder resume(boolean r) { this.resume = r; return this; }

        /**
         * What a fresh run (not {@link #resume}) does with an earlier run's checkpoints and metrics in
         * the output folder: true replaces them (other files stay); false, the default, refuses the
         * folder with a message, as {@code align4j train} does without {@code --overwrite}.
         */
        public Builder overwrite(boolean o) { this.overwrite = o; return this; }

        /** PreferenceRun has built the config's loss already: the trainer trains it as the config's own. */
        Builder configLoss(PreferenceLoss l) { this.configLoss = l; return this; }

        /**
         * An online run (TRL's OnlineDPOTrainer): the data order walks through prompts, and every training
         * micro-batch takes fresh pairs of its prompts from {@code source}, sampled from the current policy
         * outside the gradient collector. Used by the eval package's {@code OnlineDpo}; not with
         * {@link #trainPairs}, {@link #trainUnpaired} or {@code precompute_ref_log_probs}.
         *
         * @param plan one entry per prompt: its ids and completions as long as the longest that can be
         *     sampled (their content is not trained), for the length checks, the memory plan and the data
         *     fingerprint a resume checks
         */
        public Builder online(List<TokenizedPair> plan, OnlinePairs source) {
            this.onlinePlan = List.copyOf(plan);
            this.online = Objects.requireNonNull(source, "source");
            return this;
        }

        /** PreferenceRun has planned memory from the data already: the trainer does not plan it again. */
        Builder planned(boolean p) { this.planned = p; return this; }

        public PreferenceTrainer build() {
            return new PreferenceTrainer(this);
        }
    }
}
