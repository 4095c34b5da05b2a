package io.github.align4j.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.training.GradientCollector;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.loss.Kto;
import io.github.align4j.loss.LossOutput;
import io.github.align4j.loss.PairedLogps;
import io.github.align4j.loss.PairedLoss;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.loss.Scalars;
import io.github.align4j.loss.UnpairedLogps;
import io.github.align4j.loss.UnpairedLoss;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.Offline;
import io.github.align4j.model.SequenceScorer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

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
 */
public final class PreferenceTrainer implements AutoCloseable {
    static {
        Offline.ensure();
    }

    private final TrainConfig cfg;
    private final CausalLM policy;
    private final PreferenceLoss loss;
    private final List<TokenizedPair> trainPairs;
    private final List<TokenizedUnpaired> trainUnpaired;
    private final List<TokenizedPair> evalPairs;
    private final List<TokenizedUnpaired> evalUnpaired;
    private final Path output;
    private final Path tokenizerDir;
    private final PrintStream console;
    private final Supplier<CausalLM> referenceLoader;
    private final String referenceFingerprint;
    private final Path cacheDir;
    private final StepListener onStep;
    private CausalLM reference;
    private boolean ownsReference;
    private Map<ReferenceCache.Key, Float> refCache;
    private AdamW optimizer;
    private MetricsLog log;
    private int badSteps;
    private final boolean resume;
    private final Boolean overwrite;
    private volatile String stopRequest;
    private String dataSha;

    private PreferenceTrainer(Builder b) {
        this.cfg = b.config.validated();
        this.policy = b.policy;
        this.loss = b.loss;
        this.trainPairs = b.trainPairs;
        this.trainUnpaired = b.trainUnpaired;
        this.evalPairs = b.evalPairs;
        this.evalUnpaired = b.evalUnpaired;
        this.output = b.output;
        this.tokenizerDir = b.tokenizerDir;
        this.console = b.console;
        this.cacheDir = b.cacheDir;
        this.onStep = b.onStep;
        this.resume = b.resume;
        this.overwrite = b.overwrite;
        if (resume && Boolean.TRUE.equals(overwrite)) {
            throw new Align4jException("resume and overwrite exclude each other: resume continues the run in the output "
                    + "folder, overwrite replaces it");
        }
        if (resume && output == null) {
            throw new Align4jException("resume needs the output folder of the run to continue (Builder.output)");
        }
        if (policy == null || loss == null) {
            throw new Align4jException("PreferenceTrainer needs a policy and a loss");
        }
        if (!policy.trainable()) {
            throw new Align4jException("the policy must be loaded with CausalLM.Options.training()");
        }
        boolean paired = trainPairs != null;
        if (paired == (trainUnpaired != null)) {
            throw new Align4jException("give training data as pairs or as unpaired examples (exactly one)");
        }
        if ((paired ? trainPairs.isEmpty() : trainUnpaired.isEmpty())) {
            throw new Align4jException("the training data is empty");
        }
        Lengths.check(policy, trainPairs, trainUnpaired, "training", cfg.batchSize(), true);
        Lengths.check(policy, evalPairs, evalUnpaired, "eval", cfg.evalBatchSize(), false);
        PreferenceLoss.DataKind kind = paired ? PreferenceLoss.DataKind.PAIRED : PreferenceLoss.DataKind.UNPAIRED;
        if (loss.dataKind() != kind) {
            throw new Align4jException("loss '" + loss.name() + "' trains on " + loss.dataKind().name().toLowerCase()
                    + " data but the training data is " + kind.name().toLowerCase()
                    + (kind == PreferenceLoss.DataKind.PAIRED
                            ? "; convert pairs to unpaired examples for KTO (PreferenceData.toUnpaired) or choose a paired loss"
                            : "; choose an unpaired loss such as kto"));
        }
        if (b.reference != null) {
            reference = b.reference;
            referenceLoader = () -> b.reference;
            referenceFingerprint = b.reference.source() != null ? ReferenceCache.weightsFingerprint(b.reference.source()) : null;
        } else {
            Path src = b.referencePath != null ? b.referencePath : policy.source();
            referenceFingerprint = src != null ? ReferenceCache.weightsFingerprint(src) : null;
            referenceLoader = src != null
                    ? () -> CausalLM.load(src, CausalLM.Options.inference().withDevice(policy.device()))
                    : policy::frozenCopy; // fingerprint before training starts: the policy changes
        }
        if (cfg.precomputeRef() && referenceFingerprint == null) {
            throw new Align4jException("precompute_ref_log_probs needs a reference loaded from a folder "
                    + "(the cache is keyed by its weights)");
        }
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

    private boolean paired() {
        return trainPairs != null;
    }

    private int trainSize() {
        return paired() ? trainPairs.size() : trainUnpaired.size();
    }

    private int lengthOf(int i) {
        if (paired()) {
            TokenizedPair p = trainPairs.get(i);
            return p.prompt().length + Math.max(p.chosen().length, p.rejected().length);
        }
        TokenizedUnpaired u = trainUnpaired.get(i);
        return u.prompt().length + u.completion().length;
    }

    /** Optimizer steps the run will take. */
    public long totalSteps() {
        if (cfg.maxSteps() > 0) {
            return cfg.maxSteps();
        }
        long microPerEpoch = (trainSize() + cfg.batchSize() - 1) / cfg.batchSize();
        return Math.max(1, (long) Math.ceil(cfg.numTrainEpochs() * microPerEpoch / cfg.gradientAccumulationSteps()));
    }

    /** Runs the whole training loop and writes {@code OUTPUT/final/}. */
    public TrainResult train() {
        long total = totalSteps();
        Schedule schedule = Schedule.of(cfg, total);
        if (loss instanceof Kto k && trainUnpaired != null) {
            long nd = trainUnpaired.stream().filter(TokenizedUnpaired::desirable).count();
            Kto.checkWeights(nd, trainUnpaired.size() - nd, k.desirableWeight(), k.undesirableWeight())
                    .ifPresent(w -> say("warning: " + w));
        }
        try (OutputLock lock = prepareOutput()) {
            return run(total, schedule);
        }
    }

    private TrainResult run(long total, Schedule schedule) {
        Checkpoints.Found from = resume ? Checkpoints.latest(output, this::say) : null;
        if (resume && from == null) {
            say("resume: no complete checkpoint in " + output + "; starting from the beginning");
        }
        prepareReference();
        Map<String, NDArray> params = policy.parameters();
        optimizer = new AdamW(params, cfg.adamBeta1(), cfg.adamBeta2(), cfg.adamEpsilon(), cfg.weightDecay());
        Window w = new Window();
        Position pos = new Position();
        long start = from == null ? 0 : restore(from, params, pos, w, total);
        if (from == null) {
            log = new MetricsLog(output, console, false);
        }
        pos.batches = epochBatches(pos.epoch);
        Map<String, Object> lastTrain = lastRecord(log.history(), false);
        Map<String, Object> lastEval = lastRecord(log.history(), true);
        long microPerEpoch = pos.batches.size();
        long saved = from == null ? -1 : start;
        try {
            if (start >= total && from != null && from.dir().getFileName().toString().equals(Checkpoints.FINAL)) {
                say("resume: " + from.dir() + " is the end of this run (step " + start + " of " + total + "); nothing to train");
                return new TrainResult(start, (double) pos.microDone / microPerEpoch, lastTrain, lastEval,
                        List.copyOf(log.history()), from.dir(), false);
            }
            for (long step = start; step < total; step++) {
                long stepStart = System.nanoTime();
                long tokensBefore = w.tokens;
                double lr = schedule.at(step);
                boolean finite = true;
                float gradNorm;
                List<int[]> stepRows = new ArrayList<>();
                try (NDManager mgr = policy.manager().newSubManager(); NDScope scope = new NDScope()) {
                    for (int k = 0; k < cfg.gradientAccumulationSteps(); k++) {
                        int[] rows = pos.nextBatch();
                        stepRows.add(rows);
                        finite &= paired() ? trainPairedMicro(mgr, rows, w) : trainUnpairedMicro(mgr, rows, w);
                    }
                    gradNorm = Gradients.norm(params);
                }
                finite &= Float.isFinite(gradNorm);
                if (finite) {
                    badSteps = 0;
                    optimizer.step(lr, Gradients.clipScale(gradNorm, cfg.maxGradNorm())); // clipping folded into the update: no pass over the gradients
                } else {
                    badSteps++;
                    nonFinite(step + 1, stepRows, pos, w);
                }
                Gradients.zero(params);
                if (onStep != null) {
                    onStep.step(step + 1, (System.nanoTime() - stepStart) / 1e9, w.tokens - tokensBefore);
                }
                w.gradNorm += Float.isFinite(gradNorm) ? gradNorm : 0;
                w.steps++;
                long done = step + 1;
                double epochs = (double) pos.microDone / microPerEpoch;
                boolean logNow = done % cfg.loggingSteps() == 0 || done == total || done == 1;
                if (logNow) {
                    lastTrain = w.flush(lr, done, epochs, log.elapsedSeconds());
                    log.log(lastTrain);
                }
                if ((cfg.evalSteps() > 0 && done % cfg.evalSteps() == 0 && done != total) || (done == total && hasEval())) {
                    if (hasEval()) {
                        lastEval = new LinkedHashMap<>(evaluate());
                        lastEval.put("epoch", epochs);
                        lastEval.put("step", done);
                        log.log(lastEval);
                    }
                }
                if (cfg.saveSteps() > 0 && done % cfg.saveSteps() == 0 && done != total) {
                    saveCheckpoint("checkpoint-" + done, done, pos, w);
                    saved = done;
                }
                Map<String, Object> shown = new LinkedHashMap<>();
                if (lastTrain != null) {
                    shown.putAll(lastTrain);
                }
                if (lastEval != null) {
                    shown.putAll(lastEval);
                }
                log.progress(done, total, shown, logNow);
                if (stopRequest != null && done < total) {
                    Path at = output == null ? null
                            : saved == done ? output.resolve("checkpoint-" + done) : saveCheckpoint("checkpoint-" + done, done, pos, w);
                    say("stopped by " + stopRequest + " after step " + done + " of " + total
                            + (at == null ? " (no output folder: nothing saved)" : "; checkpoint: " + at));
                    return new TrainResult(done, epochs, lastTrain, lastEval, List.copyOf(log.history()), at, true);
                }
            }
            long done = Math.max(start, total);
            Path fin = output != null ? saveCheckpoint(Checkpoints.FINAL, done, pos, w) : null;
            return new TrainResult(done, (double) pos.microDone / microPerEpoch, lastTrain, lastEval,
                    List.copyOf(log.history()), fin, false);
        } finally {
            log.close();
        }
    }

    // ---- reliability: the output folder, non-finite steps, resume -----------------------------------

    /** Where the data order stands: the epoch, its micro-batches and the next one to train. */
    private final class Position {
        int epoch;
        int next;
        long microDone;
        List<int[]> batches;

        int[] nextBatch() {
            if (next == batches.size()) {
                epoch++;
                batches = epochBatches(epoch);
                next = 0;
            }
            microDone++;
            return batches.get(next++);
        }
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
                rows.add(paired() ? trainPairs.get(i).row() : trainUnpaired.get(i).row());
            }
        }
        say("warning: step " + done + ": non-finite loss or gradient; update skipped (data rows " + rows
                + ", 0-based rows of the training file; " + badSteps + " in a row)");
        Map<String, Object> rec = MetricsLog.record();
        rec.put("step", done);
        rec.put("skipped", "non-finite loss or gradient");
        rec.put("rows", rows);
        log.log(rec);
        if (badSteps >= cfg.maxNonfiniteSteps()) {
            Path at = saveCheckpoint("checkpoint-" + done, done, pos, w);
            throw new Align4jException(badSteps + " steps in a row (max_nonfinite_steps) had a non-finite loss or gradient, "
                    + "so training stopped at step " + done + ". "
                    + (at == null ? "" : "The last good weights are in " + at + ". ")
                    + "Lower learning_rate, or check the data rows named above; --resume continues from that checkpoint.");
        }
    }

    /** The last training (or eval) record of a history. */
    private static Map<String, Object> lastRecord(List<Map<String, Object>> history, boolean eval) {
        for (int i = history.size() - 1; i >= 0; i--) {
            Map<String, Object> m = history.get(i);
            if (eval ? m.keySet().stream().anyMatch(k -> k.startsWith("eval_")) : m.containsKey("learning_rate")) {
                return m;
            }
        }
        return null;
    }

    /** Settings that fix the data order: a resumed run must keep them. */
    private static final List<String> ORDER_KEYS = List.of("per_device_train_batch_size", "gradient_accumulation_steps",
            "seed", "shuffle", "group_by_length");

    /** What a resume needs besides weights and moments, stored as "align4j" in trainer_state.json. */
    private com.fasterxml.jackson.databind.node.ObjectNode resumeState(long done, Position pos, Window w) {
        var json = Checkpoints.json();
        var r = json.createObjectNode();
        r.put("version", 1);
        r.put("total_steps", totalSteps());
        r.put("epoch", pos.epoch);
        r.put("next_batch", pos.next);
        r.put("micro_batches_done", pos.microDone);
        r.put("examples", trainSize());
        r.put("data_sha256", dataFingerprint());
        var rng = r.putObject("rng");
        rng.put("generator", "java.util.Random(seed * 1000003 + epoch), one per epoch: the order of the examples");
        rng.put("seed", cfg.seed());
        rng.put("epoch", pos.epoch);
        r.put("nonfinite_in_a_row", badSteps);
        r.put("elapsed_s", log.elapsedSeconds());
        r.set("window", json.valueToTree(w.save()));
        return r;
    }

    /** SHA-256 of the tokenized training examples in order: a resume must see the same data. */
    private String dataFingerprint() {
        if (dataSha == null) {
            java.security.MessageDigest md;
            try {
                md = java.security.MessageDigest.getInstance("SHA-256");
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(1 << 16);
            for (int i = 0; i < trainSize(); i++) {
                if (paired()) {
                    TokenizedPair p = trainPairs.get(i);
                    feed(md, buf, p.prompt());
                    feed(md, buf, p.chosen());
                    feed(md, buf, p.rejected());
                } else {
                    TokenizedUnpaired u = trainUnpaired.get(i);
                    feed(md, buf, u.prompt());
                    feed(md, buf, u.completion());
                    feed(md, buf, new int[] {u.desirable() ? 1 : 0});
                }
            }
            buf.flip();
            md.update(buf);
            dataSha = java.util.HexFormat.of().formatHex(md.digest());
        }
        return dataSha;
    }

    private static void feed(java.security.MessageDigest md, java.nio.ByteBuffer buf, int[] a) {
        for (int i = -1; i < a.length; i++) {
            if (buf.remaining() < 4) {
                buf.flip();
                md.update(buf);
                buf.clear();
            }
            buf.putInt(i < 0 ? a.length : a[i]);
        }
    }

    /**
     * Restores everything from a verified checkpoint: weights (exact F32), AdamW moments and step,
     * data position, the non-finite counter, the metrics history and the open logging window.
     *
     * @return the optimizer steps already done
     */
    private long restore(Checkpoints.Found from, Map<String, NDArray> params, Position pos, Window w, long total) {
        var st = from.state();
        var a = st.path("align4j");
        Path dir = from.dir();
        if (!a.isObject()) {
            throw new Align4jException(dir + ": this checkpoint has no resume state (it was written by an older align4j). "
                    + "Start a new run in a new folder with --model " + dir + ".");
        }
        if (a.path("examples").asLong(-1) != trainSize() || !a.path("data_sha256").asText().equals(dataFingerprint())) {
            throw new Align4jException(dir + ": the checkpoint was trained on other data (" + a.path("examples").asLong(-1)
                    + " examples; now " + trainSize() + (a.path("examples").asLong(-1) == trainSize() ? " with other tokens" : "")
                    + "). Resume with the same data files, data options and seed, or start a new run in a new folder "
                    + "with --model " + dir + ".");
        }
        var savedCfg = st.path("config");
        List<String> changed = new ArrayList<>();
        for (Map.Entry<String, Object> e : cfg.asMap().entrySet()) {
            var v = savedCfg.get(e.getKey());
            if (v == null || e.getKey().equals("output_dir")) {
                continue;
            }
            boolean same = e.getValue() instanceof Number n ? v.isNumber() && v.asDouble() == n.doubleValue()
                    : v.asText().equals(String.valueOf(e.getValue()));
            if (!same) {
                if (ORDER_KEYS.contains(e.getKey())) {
                    throw new Align4jException(dir + ": " + e.getKey() + " was " + v.asText() + " in the checkpoint's run and is "
                            + e.getValue() + " now; it decides the order of the data, so a resumed run must keep it. "
                            + "Resume with " + e.getKey() + " " + v.asText() + ".");
                }
                changed.add(e.getKey() + " " + v.asText() + " → " + e.getValue());
            }
        }
        if (!changed.isEmpty()) {
            say("warning: resuming with changed settings: " + String.join(", ", changed));
        }
        long step = from.step();
        // weights (the exact F32 copy when the model file is narrower) and AdamW's moments, one tensor
        // at a time from the memory-mapped files: no second copy of the model on the heap
        Path master = dir.resolve(Checkpoints.MASTER);
        Checkpoints.copyInto(java.nio.file.Files.isRegularFile(master) ? master : dir, "", params, "the model");
        Path opt = dir.resolve(Checkpoints.OPTIMIZER);
        if (!java.nio.file.Files.isRegularFile(opt)) {
            throw new Align4jException(dir + ": " + Checkpoints.OPTIMIZER + " is missing; cannot resume the optimizer");
        }
        Checkpoints.copyInto(opt, "exp_avg.", optimizer.firstMoments(), "the optimizer's first moments");
        Checkpoints.copyInto(opt, "exp_avg_sq.", optimizer.secondMoments(), "the optimizer's second moments");
        optimizer.restoreSteps(st.path("optimizer_step").asLong());
        pos.epoch = a.path("epoch").asInt();
        pos.next = a.path("next_batch").asInt();
        pos.microDone = a.path("micro_batches_done").asLong();
        badSteps = a.path("nonfinite_in_a_row").asInt();
        if (badSteps >= cfg.maxNonfiniteSteps()) {
            badSteps = 0; // the run stopped there; the user chose to go on
        }
        w.load(a.path("window"));
        List<Map<String, Object>> history = new ArrayList<>();
        for (var rec : st.path("log_history")) {
            Map<String, Object> m = MetricsLog.record();
            rec.fields().forEachRemaining(f -> m.put(f.getKey(), jsonValue(f.getValue())));
            history.add(m);
        }
        log = MetricsLog.resumed(output, console, history, a.path("elapsed_s").asDouble(0), step);
        say("resume: continuing from " + dir + " at step " + step + " of " + total);
        return step;
    }

    private static Object jsonValue(com.fasterxml.jackson.databind.JsonNode v) {
        if (v.isIntegralNumber()) {
            return v.asLong();
        }
        if (v.isNumber()) {
            return v.asDouble();
        }
        if (v.isBoolean()) {
            return v.asBoolean();
        }
        if (v.isTextual()) {
            String t = v.asText();
            return switch (t) {
                case "NaN" -> Double.NaN;
                case "Infinity" -> Double.POSITIVE_INFINITY;
                case "-Infinity" -> Double.NEGATIVE_INFINITY;
                default -> t;
            };
        }
        if (v.isArray()) {
            List<Object> l = new ArrayList<>();
            v.forEach(x -> l.add(jsonValue(x)));
            return l;
        }
        return v.isNull() ? null : v.toString();
    }

    private List<int[]> epochBatches(int epoch) {
        return Batches.epoch(trainSize(), cfg.batchSize(), cfg.seed(), epoch, cfg.shuffle(), cfg.groupByLength(), this::lengthOf);
    }

    private boolean hasEval() {
        return (evalPairs != null && !evalPairs.isEmpty()) || (evalUnpaired != null && !evalUnpaired.isEmpty());
    }

    private void say(String s) {
        if (console != null) {
            console.println(s);
        }
    }

    // ---- one micro-batch --------------------------------------------------------------------------

    private boolean trainPairedMicro(NDManager mgr, int[] rows, Window w) {
        int b = rows.length;
        int[][] prompts = new int[2 * b][];
        int[][] completions = new int[2 * b][];
        for (int i = 0; i < b; i++) {
            TokenizedPair p = trainPairs.get(rows[i]);
            prompts[i] = p.prompt();
            prompts[b + i] = p.prompt();
            completions[i] = p.chosen();
            completions[b + i] = p.rejected();
        }
        float[] ref = loss.needsReference() ? referenceLogps(mgr, prompts, completions) : null;
        Seqs s = Seqs.of(prompts, completions);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            SequenceScorer.Scores sc = SequenceScorer.score(policy, mgr, s.seqs(), s.starts());
            PairedLogps in = pairedLogps(mgr, sc, ref, b);
            LossOutput out = ((PairedLoss) loss).compute(in, cfg.beta());
            NDArray mean = out.losses().mean();
            gc.backward(Scalars.divide(mean, cfg.gradientAccumulationSteps()));
            float lossValue = mean.getFloat();
            w.addPaired(lossValue, sc, ref, b, cfg.beta(), out.metrics(), s.tokens());
            return Float.isFinite(lossValue);
        }
    }

    private boolean trainUnpairedMicro(NDManager mgr, int[] rows, Window w) {
        int b = rows.length;
        UnpairedLoss ul = (UnpairedLoss) loss;
        int[][] prompts = new int[b][];
        int[][] completions = new int[b][];
        float[] desirable = new float[b];
        for (int i = 0; i < b; i++) {
            TokenizedUnpaired u = trainUnpaired.get(rows[i]);
            prompts[i] = u.prompt();
            completions[i] = u.completion();
            desirable[i] = u.desirable() ? 1f : 0f;
        }
        NDArray klPolicy = null;
        NDArray klRef = null;
        if (ul.needsMismatchedPairs()) {
            int[][] shifted = mismatched(completions);
            Seqs ks = Seqs.of(prompts, shifted);
            klPolicy = SequenceScorer.score(policy, mgr, ks.seqs(), ks.starts()).logps(); // outside the collector: no graph
            klRef = ul.needsReference() ? mgr.create(referenceLogps(mgr, prompts, shifted)) : null;
        }
        float[] ref = loss.needsReference() ? referenceLogps(mgr, prompts, completions) : null;
        Seqs s = Seqs.of(prompts, completions);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            SequenceScorer.Scores sc = SequenceScorer.score(policy, mgr, s.seqs(), s.starts());
            UnpairedLogps in = new UnpairedLogps(sc.logps(), ref == null ? null : mgr.create(ref), sc.tokens(),
                    mgr.create(desirable), klPolicy, klRef);
            LossOutput out = ul.compute(in, cfg.beta());
            NDArray mean = out.losses().mean();
            gc.backward(Scalars.divide(mean, cfg.gradientAccumulationSteps()));
            float lossValue = mean.getFloat();
            w.addUnpaired(lossValue, sc, ref, desirable, cfg.beta(), out.metrics(), s.tokens());
            return Float.isFinite(lossValue);
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

    private PairedLogps pairedLogps(NDManager mgr, SequenceScorer.Scores sc, float[] ref, int b) {
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

    // ---- the reference -----------------------------------------------------------------------------

    private void prepareReference() {
        if (!loss.needsReference()) {
            return;
        }
        if (!cfg.precomputeRef()) {
            if (reference == null) {
                reference = referenceLoader.get();
                ownsReference = true;
            }
            return;
        }
        Set<ReferenceCache.Key> needed = new LinkedHashSet<>();
        List<int[][]> work = new ArrayList<>(); // {prompt, completion}
        forEachReferenceRequest((p, c) -> {
            if (needed.add(ReferenceCache.key(p, c))) {
                work.add(new int[][] {p, c});
            }
        });
        Path dir = cacheDir != null ? cacheDir : defaultCacheDir();
        Path file = dir.resolve("ref-" + referenceFingerprint + "-" + ReferenceCache.requestsFingerprint(needed) + ".bin");
        Map<ReferenceCache.Key, Float> cached = ReferenceCache.read(file);
        if (cached != null && cached.keySet().containsAll(needed)) {
            refCache = cached;
            say("reference log-probs: " + needed.size() + " sequences from " + file + " (reference model not loaded)");
            return;
        }
        say("reference log-probs: scoring " + work.size() + " sequences once, cached in " + file);
        CausalLM ref = reference != null ? reference : referenceLoader.get();
        Map<ReferenceCache.Key, Float> m = new HashMap<>();
        int bs = Math.max(1, cfg.evalBatchSize() * 2);
        work.sort((x, y) -> Integer.compare(x[0].length + x[1].length, y[0].length + y[1].length));
        for (int s = 0; s < work.size(); s += bs) {
            List<int[][]> part = work.subList(s, Math.min(work.size(), s + bs));
            int[][] ps = part.stream().map(x -> x[0]).toArray(int[][]::new);
            int[][] cs = part.stream().map(x -> x[1]).toArray(int[][]::new);
            try (NDManager mgr = ref.manager().newSubManager(); NDScope scope = new NDScope()) {
                Seqs q = Seqs.of(ps, cs);
                float[] v = SequenceScorer.score(ref, mgr, q.seqs(), q.starts()).logps().toFloatArray();
                for (int i = 0; i < v.length; i++) {
                    m.put(ReferenceCache.key(ps[i], cs[i]), v[i]);
                }
            }
        }
        if (ref != reference) {
            ref.close();
        }
        ReferenceCache.write(file, m);
        refCache = m;
    }

    static Path defaultCacheDir() {
        String p = System.getProperty("align4j.cache");
        return p != null ? Path.of(p).resolve("reference")
                : Path.of(System.getProperty("user.home"), ".cache", "align4j", "reference");
    }

    /** Every (prompt, completion) the reference will be asked for: training (all epochs' KL pairs too) and eval. */
    private void forEachReferenceRequest(java.util.function.BiConsumer<int[], int[]> f) {
        if (paired()) {
            trainPairs.forEach(p -> {
                f.accept(p.prompt(), p.chosen());
                f.accept(p.prompt(), p.rejected());
            });
        } else {
            trainUnpaired.forEach(u -> f.accept(u.prompt(), u.completion()));
            if (loss instanceof UnpairedLoss ul && ul.needsMismatchedPairs()) {
                long micro = totalSteps() * cfg.gradientAccumulationSteps();
                int epoch = 0;
                List<int[]> batches = epochBatches(0);
                int next = 0;
                for (long i = 0; i < micro; i++) {
                    if (next == batches.size()) {
                        batches = epochBatches(++epoch);
                        next = 0;
                    }
                    int[] rows = batches.get(next++);
                    for (int j = 0; j < rows.length; j++) {
                        int prev = rows[(j - 1 + rows.length) % rows.length];
                        f.accept(trainUnpaired.get(rows[j]).prompt(), trainUnpaired.get(prev).completion());
                    }
                }
            }
        }
        if (evalPairs != null) {
            evalPairs.forEach(p -> {
                f.accept(p.prompt(), p.chosen());
                f.accept(p.prompt(), p.rejected());
            });
        }
        if (evalUnpaired != null) {
            evalUnpaired.forEach(u -> f.accept(u.prompt(), u.completion()));
        }
    }

    /** Reference log-probs of these sequences, from the cache or a no-graph forward of the reference. */
    private float[] referenceLogps(NDManager mgr, int[][] prompts, int[][] completions) {
        float[] out = new float[prompts.length];
        if (refCache != null) {
            for (int i = 0; i < out.length; i++) {
                Float v = refCache.get(ReferenceCache.key(prompts[i], completions[i]));
                if (v == null) {
                    throw new IllegalStateException("reference cache misses a sequence that was planned");
                }
                out[i] = v;
            }
            return out;
        }
        try (NDManager m = reference.manager().newSubManager()) {
            Seqs s = Seqs.of(prompts, completions);
            return SequenceScorer.score(reference, m, s.seqs(), s.starts()).logps().toFloatArray();
        }
    }

    // ---- evaluation --------------------------------------------------------------------------------

    /**
     * Held-out metrics with TRL's names and the {@code eval_} prefix: loss (when the eval data is of
     * the loss's kind), rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins,
     * logps/* and logits/*. Paired eval data gives reward accuracy for every loss, KTO included.
     */
    public Map<String, Double> evaluate() {
        if (loss.needsReference() && reference == null && refCache == null) {
            prepareReference();
        }
        Window w = new Window();
        int bs = cfg.evalBatchSize();
        if (evalPairs != null) {
            for (int s = 0; s < evalPairs.size(); s += bs) {
                int b = Math.min(bs, evalPairs.size() - s);
                int[][] prompts = new int[2 * b][];
                int[][] completions = new int[2 * b][];
                for (int i = 0; i < b; i++) {
                    TokenizedPair p = evalPairs.get(s + i);
                    prompts[i] = p.prompt();
                    prompts[b + i] = p.prompt();
                    completions[i] = p.chosen();
                    completions[b + i] = p.rejected();
                }
                try (NDManager mgr = policy.manager().newSubManager(); NDScope scope = new NDScope()) {
                    float[] ref = loss.needsReference() ? referenceLogps(mgr, prompts, completions) : null;
                    Seqs q = Seqs.of(prompts, completions);
                    SequenceScorer.Scores sc = SequenceScorer.score(policy, mgr, q.seqs(), q.starts());
                    float lossValue = Float.NaN;
                    Map<String, NDArray> extra = Map.of();
                    if (loss instanceof PairedLoss pl) {
                        LossOutput out = pl.compute(pairedLogps(mgr, sc, ref, b), cfg.beta());
                        lossValue = out.losses().mean().getFloat();
                        extra = out.metrics();
                    }
                    w.addPaired(lossValue, sc, ref, b, cfg.beta(), extra, q.tokens());
                }
            }
        }
        if (evalUnpaired != null) {
            for (int s = 0; s < evalUnpaired.size(); s += bs) {
                int b = Math.min(bs, evalUnpaired.size() - s);
                int[][] prompts = new int[b][];
                int[][] completions = new int[b][];
                float[] desirable = new float[b];
                for (int i = 0; i < b; i++) {
                    TokenizedUnpaired u = evalUnpaired.get(s + i);
                    prompts[i] = u.prompt();
                    completions[i] = u.completion();
                    desirable[i] = u.desirable() ? 1 : 0;
                }
                try (NDManager mgr = policy.manager().newSubManager(); NDScope scope = new NDScope()) {
                    float[] ref = loss.needsReference() ? referenceLogps(mgr, prompts, completions) : null;
                    Seqs q = Seqs.of(prompts, completions);
                    SequenceScorer.Scores sc = SequenceScorer.score(policy, mgr, q.seqs(), q.starts());
                    float lossValue = Float.NaN;
                    Map<String, NDArray> extra = Map.of();
                    if (loss instanceof UnpairedLoss ul) {
                        NDArray klP = null;
                        NDArray klR = null;
                        if (ul.needsMismatchedPairs()) {
                            int[][] shifted = mismatched(completions);
                            Seqs ks = Seqs.of(prompts, shifted);
                            klP = SequenceScorer.score(policy, mgr, ks.seqs(), ks.starts()).logps();
                            klR = ul.needsReference() ? mgr.create(referenceLogps(mgr, prompts, shifted)) : null;
                        }
                        LossOutput out = ul.compute(new UnpairedLogps(sc.logps(), ref == null ? null : mgr.create(ref),
                                sc.tokens(), mgr.create(desirable), klP, klR), cfg.beta());
                        lossValue = out.losses().mean().getFloat();
                        extra = out.metrics();
                    }
                    w.addUnpaired(lossValue, sc, ref, desirable, cfg.beta(), extra, q.tokens());
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

    // ---- gradients and checkpoints -----------------------------------------------------------------

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
        Path p = Checkpoints.save(output, name, policy, tokenizerDir, optimizer, cfg, log.history(), done,
                resumeState(done, pos, w));
        if (!name.equals(Checkpoints.FINAL)) {
            Checkpoints.prune(output, cfg.saveTotalLimit());
        }
        return p;
    }

    @Override
    public void close() {
        if (optimizer != null) {
            optimizer.close();
            optimizer = null;
        }
        if (ownsReference && reference != null && reference != policy) {
            reference.close();
            reference = null;
        }
    }
    /** Builds a trainer. */
    public static final class Builder {
        private TrainConfig config = TrainConfig.defaults();
        private CausalLM policy;
        private CausalLM reference;
        private Path referencePath;
        private PreferenceLoss loss;
        private List<TokenizedPair> trainPairs;
        private List<TokenizedUnpaired> trainUnpaired;
        private List<TokenizedPair> evalPairs;
        private List<TokenizedUnpaired> evalUnpaired;
        private Path output;
        private Path tokenizerDir;
        private Path cacheDir;
        private PrintStream console = System.err;
        private StepListener onStep;
        private boolean resume;
        private Boolean overwrite;

        public Builder config(TrainConfig c) { this.config = c; return this; }
        /** The model to train (loaded with {@code CausalLM.Options.training()}). */
        public Builder policy(CausalLM p) { this.policy = p; return this; }
        /** A reference already loaded (frozen); the caller keeps ownership. */
        public Builder reference(CausalLM r) { this.reference = r; return this; }
        /** A reference folder (default: the policy's own folder, loaded frozen). */
        public Builder referencePath(Path p) { this.referencePath = p; return this; }
        public Builder loss(PreferenceLoss l) { this.loss = l; return this; }
        public Builder trainPairs(List<TokenizedPair> d) { this.trainPairs = d; return this; }
        public Builder trainUnpaired(List<TokenizedUnpaired> d) { this.trainUnpaired = d; return this; }
        public Builder evalPairs(List<TokenizedPair> d) { this.evalPairs = d; return this; }
        public Builder evalUnpaired(List<TokenizedUnpaired> d) { this.evalUnpaired = d; return this; }
        /** Where metrics.jsonl and checkpoints go (null: nothing is written). */
        public Builder output(Path o) { this.output = o; return this; }
        /** Tokenizer files copied into every checkpoint (default: the policy's folder). */
        public Builder tokenizerDir(Path t) { this.tokenizerDir = t; return this; }
        /** Where precomputed reference log-probs are cached (default ~/.cache/align4j/reference). */
        public Builder cacheDir(Path c) { this.cacheDir = c; return this; }
        /** Progress and warnings (null: silent). */
        public Builder console(PrintStream c) { this.console = c; return this; }

        /** A callback after every optimizer step (benchmarks, progress in embedding applications). */
        public Builder onStep(StepListener l) { this.onStep = l; return this; }

        /**
         * Continue the run in the output folder from its newest complete checkpoint (weights, AdamW
         * moments, schedule, data order and position, metrics); without one, start from the
         * beginning. The data and the settings that fix the data order must be the same.
         */
        public Builder resume(boolean r) { this.resume = r; return this; }

        /**
         * What a fresh run (not {@link #resume}) does with an earlier run's checkpoints and metrics in
         * the output folder: true replaces them (other files stay); false refuses the folder, as
         * {@code align4j train} does without {@code --overwrite}. Not set: they are replaced with a
         * warning that names them.
         */
        public Builder overwrite(boolean o) { this.overwrite = o; return this; }

        public PreferenceTrainer build() {
            return new PreferenceTrainer(this);
        }
    }
}
