package io.github.align4j.train;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Kto;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.loss.UnpairedLoss;
import io.github.align4j.model.CausalLM;
import io.github.align4j.train.internal.Batches;
import java.io.PrintStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

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
 */
public final class PreferenceTrainer implements AutoCloseable {
    static {
        Offline.ensure();
    }

    private static final Logger LOG = LoggerFactory.getLogger(PreferenceTrainer.class);

    private final TrainConfig cfg;
    private final CausalLM policy;
    private final PreferenceLoss loss;
    private final Map<String, Object> lossRecord;
    private final List<TokenizedPair> trainPairs; // as given, for ref_logps_file's rows
    private final List<TokenizedUnpaired> trainUnpaired;
    private final List<TokenizedPair> evalPairs;
    private final List<TokenizedUnpaired> evalUnpaired;
    private final Path output;
    private final Path tokenizerDir;
    private final PrintStream console;
    private final Path cacheDir;
    private final StepListener onStep;
    private final java.util.function.BiConsumer<Long, List<int[]>> stepRows;
    private final List<TrainingListener> userListeners;
    private List<TrainingListener> listeners = List.of();
    private final Batching train;
    private final Reference reference;
    private final RunState state;
    private TrainLoop loop;
    private MetricsLog log;
    private int badSteps;
    private final boolean resume;
    private final Boolean overwrite;
    private volatile String stopRequest;
    private long tokensSeen;

    private PreferenceTrainer(Builder b) {
        TrainConfig c = b.config.validated();
        // the config's loss unless one is given (not both); PreferenceRun hands over the config's loss it built
        this.loss = b.configLoss != null ? b.configLoss : ConfigUse.loss(c, b.loss);
        this.cfg = ConfigUse.recorded(c, loss, b.loss != null);
        this.lossRecord = ConfigUse.describe(loss, c, b.loss != null);
        this.policy = b.policy;
        List<TokenizedPair> trainPairs = b.online != null ? b.onlinePlan : b.trainPairs;
        List<TokenizedUnpaired> trainUnpaired = b.trainUnpaired;
        this.evalPairs = b.evalPairs;
        this.evalUnpaired = b.evalUnpaired;
        this.output = b.output != null ? b.output
                : c.output().dir().isEmpty() ? null : Path.of(c.output().dir()); // output_dir is the output unless one is given
        this.tokenizerDir = b.tokenizerDir;
        this.console = b.console;
        this.cacheDir = b.cacheDir;
        this.onStep = b.onStep;
        this.stepRows = b.stepRows;
        this.userListeners = List.copyOf(b.listeners);
        this.resume = b.resume;
        this.overwrite = b.overwrite;
        if (resume && Boolean.TRUE.equals(overwrite)) {
            throw new Align4jException("resume and overwrite exclude each other: resume continues the run in the output "
                    + "folder, overwrite replaces it");
        }
        if (resume && output == null) {
            throw new Align4jException("resume needs the output folder of the run to continue (Builder.output)");
        }
        if (policy == null) {
            throw new Align4jException("PreferenceTrainer needs a policy");
        }
        ConfigUse.checkDevice(cfg, policy);
        if (!b.planned) {
            ConfigUse.checkDirect(cfg, policy, b.evalPairs != null || b.evalUnpaired != null);
        }
        ConfigUse.check(cfg, policy, trainPairs, b.trainUnpaired, "training");
        ConfigUse.check(cfg, policy, b.evalPairs, b.evalUnpaired, "eval");
        if (!policy.hasTrainableWeights()) {
            throw new Align4jException("the policy has nothing to train: load it with CausalLM.Options.training(), or "
                    + "load a frozen base and add LoRA adapters (CausalLM.addAdapters)");
        }
        boolean paired = trainPairs != null;
        if (paired == (trainUnpaired != null)) {
            throw new Align4jException("give training data as pairs or as unpaired examples (exactly one)");
        }
        if ((paired ? trainPairs.isEmpty() : trainUnpaired.isEmpty())) {
            throw new Align4jException("the training data is empty");
        }
        Lengths.check(policy, trainPairs, trainUnpaired, "training", cfg.optimization().batchSize(), true);
        Lengths.check(policy, evalPairs, evalUnpaired, "eval", cfg.optimization().evalBatchSize(), false);
        Path refPath = b.referencePath != null ? b.referencePath
                : b.reference == null && !cfg.reference().path().isEmpty() ? Path.of(cfg.reference().path()) : null;
        if (!b.planned) {
            MemoryPlan.beforeTraining(cfg, policy, b.reference, refPath, loss.needsReference(), trainPairs, trainUnpaired);
        }
        PreferenceLoss.DataKind kind = paired ? PreferenceLoss.DataKind.PAIRED : PreferenceLoss.DataKind.UNPAIRED;
        if (loss.dataKind() != kind) {
            throw new Align4jException("loss '" + loss.name() + "' trains on " + loss.dataKind().name().toLowerCase()
                    + " data but the training data is " + kind.name().toLowerCase()
                    + (kind == PreferenceLoss.DataKind.PAIRED
                            ? "; convert pairs to unpaired examples for KTO (PreferenceData.toUnpaired) or choose a paired loss"
                            : "; choose an unpaired loss such as kto"));
        }
        if (b.online != null) {
            if (b.trainPairs != null || b.trainUnpaired != null) {
                throw new Align4jException("an online run samples its pairs: give prompts (Builder.online), not training data");
            }
            if (cfg.reference().precompute() || !cfg.reference().logpsFile().isEmpty()) {
                throw new Align4jException((cfg.reference().precompute() ? "precompute_ref_log_probs" : "ref_logps_file")
                        + " cannot be used online: the completions are sampled during training, so the reference "
                        + "scores them live; drop " + (cfg.reference().precompute() ? "--precompute-ref" : "--ref-logps"));
            }
        }
        train = b.online != null ? new OnlineBatches(trainPairs, b.online, cfg)
                : paired ? new PairedBatches(trainPairs) : new UnpairedBatches(trainUnpaired);
        this.trainPairs = trainPairs;
        this.trainUnpaired = trainUnpaired;
        state = new RunState(cfg, train, lossRecord);
        ai.djl.ndarray.types.DataType refType = b.referenceType;
        if (refType == null) { // torch_dtype holds a reference loaded from a folder, as align4j train does
            Path dir = refPath != null ? refPath : policy.source();
            refType = dir == null ? ai.djl.ndarray.types.DataType.FLOAT32
                    : io.github.align4j.model.internal.ModelDtypes.resolve(cfg.model().torchDtype().key(), dir);
        }
        reference = new Reference(b.reference, refPath, policy, refType).syncing(cfg.reference().sync());
        if (cfg.reference().precompute() && reference.fingerprint() == null) {
            throw new Align4jException("precompute_ref_log_probs needs a reference loaded from a folder "
                    + "(the cache is keyed by its weights)");
        }
        checkTrlOptions(paired);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** use_weighting, ld_alpha and sync_ref_model: what they need, refused clearly where it is missing. */
    private void checkTrlOptions(boolean paired) {
        List<String> set = new ArrayList<>();
        if (cfg.lossSpec().useWeighting()) {
            set.add("use_weighting");
        }
        if (cfg.lossSpec().ldAlpha() != 1) {
            set.add("ld_alpha");
        }
        if (cfg.reference().sync()) {
            set.add("sync_ref_model");
        }
        if (set.isEmpty()) {
            return;
        }
        if (!paired) {
            throw new Align4jException(String.join(", ", set) + " " + (set.size() == 1 ? "is an option" : "are options")
                    + " of TRL's DPOTrainer for paired losses; loss '" + loss.name() + "' trains on unpaired examples: "
                    + "turn " + (set.size() == 1 ? "it" : "them") + " off or choose a paired loss");
        }
        if (cfg.lossSpec().ldAlpha() != 1 && cfg.reference().precompute() && loss.needsReference()) {
            throw new Align4jException("ld_alpha (LD-DPO) weighs the reference's tokens by the length of each pair's "
                    + "shorter completion, and the precompute_ref_log_probs cache holds plain sums: turn one of them off");
        }
        if (cfg.reference().sync()) {
            if (!loss.needsReference()) {
                throw new Align4jException("sync_ref_model (TR-DPO) updates the reference, but loss '" + loss.name()
                        + "' uses no reference: turn sync_ref_model off");
            }
            if (cfg.reference().precompute()) {
                throw new Align4jException("sync_ref_model (TR-DPO) changes the reference during training, so its "
                        + "log-probs cannot be precomputed: turn precompute_ref_log_probs off (or sync_ref_model)");
            }
            if (policy.adapterConfig() != null) {
                throw new Align4jException("sync_ref_model (TR-DPO) mixes the policy's weights into the reference, but "
                        + "this policy trains LoRA adapters: by default its reference is its own base with the adapters "
                        + "off, which TR-DPO would change too, and a separate reference would need the merged weights "
                        + "(TRL does not mix a PEFT policy either). Train all weights (use_peft false), or turn "
                        + "sync_ref_model off");
            }
        }
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
        Window w = new Window();
        Position pos = new Position(this::epochBatches);
        long start = 0;
        if (from != null) {
            RunState.Restored r = state.restore(from, loop.params, loop.optimizer, pos, w, this::say);
            start = r.step();
            badSteps = r.badSteps();
            if (cfg.reference().sync()) {
                restoreReference(from.dir());
            }
            log = MetricsLog.resumed(output, r.history(), r.elapsed());
            say("resume: continuing from " + from.dir() + " at step " + start + " of " + total);
        } else {
            log = new MetricsLog(output, false);
        }
        Map<String, Object> lastTrain = RunState.lastRecord(log.history(), false);
        Map<String, Object> lastEval = RunState.lastRecord(log.history(), true);
        List<TrainingListener> all = new ArrayList<>();
        all.add(log);
        long trainableCount = 0;
        for (ai.djl.ndarray.NDArray a : policy.trainableParameters().values()) {
            trainableCount += a.size();
        }
        all.add(new LogLines(train.size() + (train instanceof OnlineBatches ? " prompts" : train instanceof PairedBatches ? " pairs" : " examples"), cfg, trainableCount,
                policy.adapterConfig() != null ? policy.parameterCount() + trainableCount : policy.parameterCount(),
                policy.device().toString(), () -> tokensSeen));
        if (console != null) {
            all.add(new ConsoleProgress(console, start, lastTrain, lastEval));
        }
        all.addAll(userListeners);
        listeners = all;
        listeners.forEach(l -> l.onTrainBegin(this, total));
        long saved = from == null ? -1 : start;
        Batching.Scoring scoring = scoring();
        try {
            if (start >= total && from != null && from.dir().getFileName().toString().equals(Checkpoints.FINAL)) {
                say("resume: " + from.dir() + " is the end of this run (step " + start + " of " + total + "); nothing to train");
                return end(new TrainResult(start, pos.epochs(), lastTrain, lastEval, List.copyOf(log.history()), from.dir(), false));
            }
            for (long step = start; step < total; step++) {
                long stepStart = System.nanoTime();
                Window sw = new Window();
                if (train instanceof OnlineBatches ob) {
                    ob.beginStep(step);
                }
                TrainLoop.Step st = loop.step(step, pos, (mgr, rows, divisor) -> train.train(scoring, mgr, rows, sw, divisor));
                if (st.updated()) {
                    badSteps = 0;
                } else {
                    badSteps++;
                    nonFinite(step + 1, st.rows(), pos, w);
                }
                if (stepRows != null) {
                    stepRows.accept(step + 1, st.rows());
                }
                tokensSeen += sw.tokens;
                if (onStep != null) {
                    onStep.step(step + 1, (System.nanoTime() - stepStart) / 1e9, sw.tokens);
                }
                float gradNorm = st.gradNorm();
                sw.gradNorm += Float.isFinite(gradNorm) ? gradNorm : 0;
                sw.steps++;
                w.addAll(sw);
                long done = step + 1;
                if (cfg.reference().sync() && done % cfg.reference().syncSteps() == 0) {
                    reference.mixIn(cfg.reference().mixupAlpha()); // TR-DPO, as TRL's callback at the step's end
                }
                double epochs = pos.epochs();
                Map<String, Double> stepMetrics = numbers(sw.flush(st.learningRate(), done, epochs, log.elapsedSeconds()));
                boolean logNow = done % cfg.output().loggingSteps() == 0 || done == total || done == 1;
                if (logNow) {
                    lastTrain = w.flush(st.learningRate(), done, epochs, log.elapsedSeconds());
                    emitLog(lastTrain);
                }
                if ((cfg.output().evalSteps() > 0 && done % cfg.output().evalSteps() == 0 && done != total) || (done == total && hasEval())) {
                    if (hasEval()) {
                        LOG.info("evaluating at step {} on {} held-out {}", done, evalPairs != null ? evalPairs.size()
                                : evalUnpaired.size(), evalPairs != null ? "pairs" : "examples");
                        lastEval = new LinkedHashMap<>(evaluate());
                        lastEval.put("epoch", epochs);
                        lastEval.put("step", done);
                        emitLog(lastEval);
                        Map<String, Double> ev = numbers(lastEval);
                        listeners.forEach(l -> l.onEvaluate(done, ev));
                    }
                }
                if (cfg.output().saveSteps() > 0 && done % cfg.output().saveSteps() == 0 && done != total) {
                    saveCheckpoint("checkpoint-" + done, done, pos, w);
                    saved = done;
                }
                listeners.forEach(l -> l.onStepEnd(done, stepMetrics));
                if (stopRequest != null && done < total) {
                    Path at = output == null ? null
                            : saved == done ? output.resolve("checkpoint-" + done) : saveCheckpoint("checkpoint-" + done, done, pos, w);
                    say("stopped by " + stopRequest + " after step " + done + " of " + total
                            + (at == null ? " (no output folder: nothing saved)" : "; checkpoint: " + at));
                    return end(new TrainResult(done, epochs, lastTrain, lastEval, List.copyOf(log.history()), at, true));
                }
            }
            long done = Math.max(start, total);
            Path fin = output != null ? saveCheckpoint(Checkpoints.FINAL, done, pos, w) : null;
            return end(new TrainResult(done, pos.epochs(), lastTrain, lastEval, List.copyOf(log.history()), fin, false));
        } finally {
            log.close();
            listeners = List.of();
        }
    }

    private TrainResult end(TrainResult r) {
        listeners.forEach(l -> l.onTrainEnd(r));
        return r;
    }

    private void emitLog(Map<String, Object> record) {
        listeners.forEach(l -> l.onLog(record));
    }

    /** The numeric entries of a record, as doubles. */
    private static Map<String, Double> numbers(Map<String, Object> record) {
        Map<String, Double> m = new LinkedHashMap<>();
        record.forEach((k, v) -> {
            if (v instanceof Number n) {
                m.put(k, n.doubleValue());
            }
        });
        return java.util.Collections.unmodifiableMap(m);
    }

    /**
     * Creates and locks the output folder, refuses it when something align4j did not write is in
     * the way, tidies what an interrupted run left there, and checks that a fresh run does not mix
     * with an earlier run's checkpoints ({@link OutputFolder#open}).
     */
    private OutputLock prepareOutput() {
        return output == null ? OutputLock.NONE : OutputFolder.open(output, resume, overwrite, this::say);
    }

    /**
     * A step whose loss or gradient was NaN or infinite: the update was skipped (weights and AdamW
     * moments unchanged). Logs the step and the data rows; after max_nonfinite_steps in a row, saves
     * the last good weights and stops.
     */
    private void nonFinite(long done, List<int[]> stepRows, Position pos, Window w) {
        List<Long> rows = new ArrayList<>();
        for (int[] b : stepRows) {
            for (int i : b) {
                rows.add(train.row(i));
            }
        }
        say("warning: step " + done + ": non-finite loss or gradient; update skipped (data rows " + rows
                + ", 0-based rows of the training file; " + badSteps + " in a row)");
        Map<String, Object> rec = MetricsLog.record();
        rec.put("step", done);
        rec.put("skipped", "non-finite loss or gradient");
        rec.put("rows", rows);
        emitLog(rec);
        if (badSteps >= cfg.output().maxNonfiniteSteps()) {
            Path at = saveCheckpoint("checkpoint-" + done, done, pos, w);
            throw new Align4jException(badSteps + " steps in a row (max_nonfinite_steps) had a non-finite loss or gradient, "
                    + "so training stopped at step " + done + ". "
                    + (at == null ? "" : "The last good weights are in " + at + ". ")
                    + "Lower learning_rate, or check the data rows named above; --resume continues from that checkpoint.");
        }
    }

    private List<int[]> epochBatches(int epoch) {
        return Batches.epoch(train.size(), cfg.optimization().batchSize(), cfg.optimization().seed(), epoch, cfg.optimization().shuffle(), cfg.optimization().groupByLength(),
                train::lengthOf);
    }

    private boolean hasEval() {
        return (evalPairs != null && !evalPairs.isEmpty()) || (evalUnpaired != null && !evalUnpaired.isEmpty());
    }

    private void say(String s) {
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

    private Batching.Scoring scoring() {
        return new Batching.Scoring(policy, loss, cfg.lossSpec().beta(), reference, cfg.lossSpec().ldAlpha(), cfg.lossSpec().useWeighting());
    }

    /** TR-DPO: the reference as the checkpoint's run had mixed it. */
    private void restoreReference(Path dir) {
        Path file = dir.resolve(Checkpoints.REFERENCE);
        if (!java.nio.file.Files.isRegularFile(file)) {
            throw new Align4jException(dir + " holds no " + Checkpoints.REFERENCE + ", so the run that wrote it did not use "
                    + "sync_ref_model (TR-DPO) and its reference cannot be continued: resume with sync_ref_model false, "
                    + "or start a new run in a new folder");
        }
        Checkpoints.copyInto(file, "", reference.weights(), "the TR-DPO reference");
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

    // ---- checkpoints -------------------------------------------------------------------------------

    /**
     * Writes a checkpoint to {@code OUTPUT/name} through a temporary folder, then prunes old ones
     * to save_total_limit.
     */
    private Path saveCheckpoint(String name, long done, Position pos, Window w) {
        if (output == null) {
            return null;
        }
        String bad = policy.firstNonFiniteWeight();
        if (bad != null) { // never save NaN as "good" weights, nor let it replace an older checkpoint by pruning
            throw new Align4jException("the policy's weights are not finite numbers (tensor '" + bad + "' holds NaN or "
                    + "infinity) at step " + done + ", so no " + name + " was saved; the checkpoints already in " + output
                    + " are the last with finite weights. Check the model's weights and the training settings.");
        }
        Path p = Checkpoints.save(output, name, policy, tokenizerDir, loop.optimizer, cfg, log.history(), done,
                state.save(totalSteps(), pos, w, badSteps, log.elapsedSeconds()),
                cfg.reference().sync() ? reference.weights() : null);
        if (!name.equals(Checkpoints.FINAL)) {
            Checkpoints.prune(output, cfg.output().saveTotalLimit());
        }
        listeners.forEach(l -> l.onCheckpoint(p));
        return p;
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
        private ai.djl.ndarray.types.DataType referenceType;
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
        private java.util.function.BiConsumer<Long, List<int[]>> stepRows;
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
        public Builder referenceType(ai.djl.ndarray.types.DataType t) { this.referenceType = t; return this; }
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
            this.listeners.add(java.util.Objects.requireNonNull(l, "listener"));
            return this;
        }

        /** A callback after every optimizer step (benchmarks, progress in embedding applications). */
        public Builder onStep(StepListener l) { this.onStep = l; return this; }

        /** Tests: the micro-batches (example indices) of every optimizer step, after the step. */
        Builder stepRows(java.util.function.BiConsumer<Long, List<int[]>> l) { this.stepRows = l; return this; }

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
            this.online = java.util.Objects.requireNonNull(source, "source");
            return this;
        }

        /** PreferenceRun has planned memory from the data already: the trainer does not plan it again. */
        Builder planned(boolean p) { this.planned = p; return this; }

        public PreferenceTrainer build() {
            return new PreferenceTrainer(this);
        }
    }
}
