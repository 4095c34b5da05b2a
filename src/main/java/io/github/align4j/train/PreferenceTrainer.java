package io.github.align4j.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.loss.Kto;
import io.github.align4j.loss.LossOutput;
import io.github.align4j.loss.PairedLogps;
import io.github.align4j.loss.PairedLoss;
import io.github.align4j.loss.PreferenceLoss;
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

    /** Steps, timing and the last logged metrics of a finished run. */
    public record TrainResult(long steps, double epochs, Map<String, Object> lastTrain, Map<String, Object> lastEval,
            List<Map<String, Object>> history, Path finalCheckpoint) {}

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
        prepareReference();
        Map<String, NDArray> params = policy.parameters();
        optimizer = new AdamW(params, cfg.adamBeta1(), cfg.adamBeta2(), cfg.adamEpsilon(), cfg.weightDecay());
        log = new MetricsLog(output, console, false);
        Map<String, Object> lastTrain = null;
        Map<String, Object> lastEval = null;
        Window w = new Window();
        int epoch = 0;
        List<int[]> batches = epochBatches(epoch);
        int next = 0;
        long microPerEpoch = batches.size();
        long microDone = 0;
        try {
            for (long step = 0; step < total; step++) {
                long stepStart = System.nanoTime();
                long tokensBefore = w.tokens;
                double lr = schedule.at(step);
                boolean finite = true;
                float gradNorm;
                try (NDManager mgr = policy.manager().newSubManager(); NDScope scope = new NDScope()) {
                    for (int k = 0; k < cfg.gradientAccumulationSteps(); k++) {
                        if (next == batches.size()) {
                            epoch++;
                            batches = epochBatches(epoch);
                            next = 0;
                        }
                        int[] rows = batches.get(next++);
                        microDone++;
                        finite &= paired() ? trainPairedMicro(mgr, rows, w) : trainUnpairedMicro(mgr, rows, w);
                    }
                    gradNorm = globalNorm(params);
                }
                finite &= Float.isFinite(gradNorm);
                if (finite) {
                    badSteps = 0;
                    float clip = cfg.maxGradNorm() > 0 && gradNorm > cfg.maxGradNorm()
                            ? (float) (cfg.maxGradNorm() / (gradNorm + 1e-6)) : 1f;
                    optimizer.step(lr, clip); // clipping folded into the update: no pass over the gradients
                } else {
                    badSteps++;
                    say("warning: step " + (step + 1) + ": non-finite loss or gradient; update skipped (rows "
                            + w.lastRows + ")");
                    if (badSteps >= 3) {
                        Path saved = saveCheckpoint("checkpoint-" + step);
                        throw new Align4jException("3 steps in a row had a non-finite loss or gradient; stopped. The last good "
                                + "weights are in " + saved + ". Lower learning_rate or check the data rows named above.");
                    }
                }
                zeroGradients(params);
                if (onStep != null) {
                    onStep.step(step + 1, (System.nanoTime() - stepStart) / 1e9, w.tokens - tokensBefore);
                }
                w.gradNorm += Float.isFinite(gradNorm) ? gradNorm : 0;
                w.steps++;
                long done = step + 1;
                double epochs = (double) microDone / microPerEpoch;
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
                    saveCheckpoint("checkpoint-" + done);
                }
                Map<String, Object> shown = new LinkedHashMap<>();
                if (lastTrain != null) {
                    shown.putAll(lastTrain);
                }
                if (lastEval != null) {
                    shown.putAll(lastEval);
                }
                log.progress(done, total, shown, logNow);
            }
            Path fin = output != null ? saveCheckpoint("final") : null;
            return new TrainResult(total, (double) microDone / microPerEpoch, lastTrain, lastEval, List.copyOf(log.history()), fin);
        } finally {
            log.close();
        }
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
        w.lastRows = rowIds(rows, true);
        float[] ref = loss.needsReference() ? referenceLogps(mgr, prompts, completions) : null;
        Seqs s = Seqs.of(prompts, completions);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            SequenceScorer.Scores sc = SequenceScorer.score(policy, mgr, s.seqs, s.starts);
            PairedLogps in = pairedLogps(mgr, sc, ref, b);
            LossOutput out = ((PairedLoss) loss).compute(in, cfg.beta());
            NDArray mean = out.losses().mean();
            gc.backward(mean.div((float) cfg.gradientAccumulationSteps()));
            float lossValue = mean.getFloat();
            w.addPaired(lossValue, sc, ref, b, cfg.beta(), out.metrics(), s.tokens);
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
        w.lastRows = rowIds(rows, false);
        NDArray klPolicy = null;
        NDArray klRef = null;
        if (ul.needsMismatchedPairs()) {
            int[][] shifted = mismatched(completions);
            Seqs ks = Seqs.of(prompts, shifted);
            klPolicy = SequenceScorer.score(policy, mgr, ks.seqs, ks.starts).logps(); // outside the collector: no graph
            klRef = ul.needsReference() ? mgr.create(referenceLogps(mgr, prompts, shifted)) : null;
        }
        float[] ref = loss.needsReference() ? referenceLogps(mgr, prompts, completions) : null;
        Seqs s = Seqs.of(prompts, completions);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            SequenceScorer.Scores sc = SequenceScorer.score(policy, mgr, s.seqs, s.starts);
            UnpairedLogps in = new UnpairedLogps(sc.logps(), ref == null ? null : mgr.create(ref), sc.tokens(),
                    mgr.create(desirable), klPolicy, klRef);
            LossOutput out = ul.compute(in, cfg.beta());
            NDArray mean = out.losses().mean();
            gc.backward(mean.div((float) cfg.gradientAccumulationSteps()));
            float lossValue = mean.getFloat();
            w.addUnpaired(lossValue, sc, ref, desirable, cfg.beta(), out.metrics(), s.tokens);
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

    private static String rowIds(int[] rows, boolean pairedData) {
        StringBuilder sb = new StringBuilder();
        for (int r : rows) {
            sb.append(sb.length() == 0 ? "" : ",").append(r);
        }
        return sb.toString();
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
                float[] v = SequenceScorer.score(ref, mgr, q.seqs, q.starts).logps().toFloatArray();
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
            return SequenceScorer.score(reference, m, s.seqs, s.starts).logps().toFloatArray();
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
                    SequenceScorer.Scores sc = SequenceScorer.score(policy, mgr, q.seqs, q.starts);
                    float lossValue = Float.NaN;
                    Map<String, NDArray> extra = Map.of();
                    if (loss instanceof PairedLoss pl) {
                        LossOutput out = pl.compute(pairedLogps(mgr, sc, ref, b), cfg.beta());
                        lossValue = out.losses().mean().getFloat();
                        extra = out.metrics();
                    }
                    w.addPaired(lossValue, sc, ref, b, cfg.beta(), extra, q.tokens);
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
                    SequenceScorer.Scores sc = SequenceScorer.score(policy, mgr, q.seqs, q.starts);
                    float lossValue = Float.NaN;
                    Map<String, NDArray> extra = Map.of();
                    if (loss instanceof UnpairedLoss ul) {
                        NDArray klP = null;
                        NDArray klR = null;
                        if (ul.needsMismatchedPairs()) {
                            int[][] shifted = mismatched(completions);
                            Seqs ks = Seqs.of(prompts, shifted);
                            klP = SequenceScorer.score(policy, mgr, ks.seqs, ks.starts).logps();
                            klR = ul.needsReference() ? mgr.create(referenceLogps(mgr, prompts, shifted)) : null;
                        }
                        LossOutput out = ul.compute(new UnpairedLogps(sc.logps(), ref == null ? null : mgr.create(ref),
                                sc.tokens(), mgr.create(desirable), klP, klR), cfg.beta());
                        lossValue = out.losses().mean().getFloat();
                        extra = out.metrics();
                    }
                    w.addUnpaired(lossValue, sc, ref, desirable, cfg.beta(), extra, q.tokens);
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
     * ‖g‖ over all parameters: one fused norm per gradient (no squared copy), then the norm of those
     * norms, read back once.
     */
    private static float globalNorm(Map<String, NDArray> params) {
        NDList norms = new NDList(params.size());
        for (NDArray p : params.values()) {
            norms.add(p.getGradient().norm());
        }
        return NDArrays.stack(norms).norm().getFloat();
    }

    /** grad.zero_() for every parameter: one native call each, no wrapper or index machinery (also clears NaN and ∞). */
    static void zeroGradients(Map<String, NDArray> params) {
        for (NDArray p : params.values()) {
            JniUtils.zeroGrad((PtNDArray) p);
        }
    }

    /** Writes the policy (Hugging Face format) to {@code OUTPUT/name} through a temporary folder. */
    private Path saveCheckpoint(String name) {
        if (output == null) {
            return null;
        }
        return Checkpoints.save(output, name, policy, tokenizerDir, optimizer, cfg, log.history());
    }

    @Override
    public void close() {
        if (ownsReference && reference != null && reference != policy) {
            reference.close();
            reference = null;
        }
    }

    // ---- helpers -----------------------------------------------------------------------------------

    /** Prompt + completion token sequences and where each completion starts. */
    record Seqs(int[][] seqs, int[] starts, long tokens) {
        static Seqs of(int[][] prompts, int[][] completions) {
            int[][] s = new int[prompts.length][];
            int[] st = new int[prompts.length];
            long tok = 0;
            for (int i = 0; i < s.length; i++) {
                s[i] = new int[prompts[i].length + completions[i].length];
                System.arraycopy(prompts[i], 0, s[i], 0, prompts[i].length);
                System.arraycopy(completions[i], 0, s[i], prompts[i].length, completions[i].length);
                st[i] = prompts[i].length;
                tok += s[i].length;
            }
            return new Seqs(s, st, tok);
        }
    }

    /** Running sums of the metrics between two log lines. */
    static final class Window {
        double loss;
        long lossCount;
        double rewardChosen;
        double rewardRejected;
        long chosenCount;
        long rejectedCount;
        double correct;
        long pairCount;
        double margin;
        double logpChosen;
        double logpRejected;
        double logitChosen;
        double logitRejected;
        double tokensChosen;
        double tokensRejected;
        double gradNorm;
        long steps;
        long tokens;
        long startNanos = System.nanoTime();
        String lastRows = "";
        final Map<String, double[]> extra = new LinkedHashMap<>();

        void addPaired(float lossValue, SequenceScorer.Scores sc, float[] ref, int b, double beta,
                Map<String, NDArray> metrics, long seqTokens) {
            float[] lp = sc.logps().toFloatArray();
            float[] ls = sc.logitSums().toFloatArray();
            float[] tk = sc.tokens().toFloatArray();
            addLoss(lossValue, metrics);
            for (int i = 0; i < b; i++) {
                double rc = beta * (lp[i] - (ref == null ? 0 : ref[i]));
                double rr = beta * (lp[b + i] - (ref == null ? 0 : ref[b + i]));
                rewardChosen += rc;
                rewardRejected += rr;
                margin += rc - rr;
                correct += rc > rr ? 1 : 0;
                logpChosen += lp[i];
                logpRejected += lp[b + i];
                logitChosen += ls[i];
                logitRejected += ls[b + i];
                tokensChosen += tk[i];
                tokensRejected += tk[b + i];
            }
            chosenCount += b;
            rejectedCount += b;
            pairCount += b;
            tokens += seqTokens;
        }

        void addUnpaired(float lossValue, SequenceScorer.Scores sc, float[] ref, float[] desirable, double beta,
                Map<String, NDArray> metrics, long seqTokens) {
            float[] lp = sc.logps().toFloatArray();
            float[] ls = sc.logitSums().toFloatArray();
            float[] tk = sc.tokens().toFloatArray();
            addLoss(lossValue, metrics);
            for (int i = 0; i < lp.length; i++) {
                double r = beta * (lp[i] - (ref == null ? 0 : ref[i]));
                if (desirable[i] > 0.5f) {
                    rewardChosen += r;
                    logpChosen += lp[i];
                    logitChosen += ls[i];
                    tokensChosen += tk[i];
                    chosenCount++;
                } else {
                    rewardRejected += r;
                    logpRejected += lp[i];
                    logitRejected += ls[i];
                    tokensRejected += tk[i];
                    rejectedCount++;
                }
            }
            tokens += seqTokens;
        }

        private void addLoss(float lossValue, Map<String, NDArray> metrics) {
            if (!Float.isNaN(lossValue)) {
                loss += lossValue;
                lossCount++;
            }
            for (Map.Entry<String, NDArray> e : metrics.entrySet()) {
                double[] acc = extra.computeIfAbsent(e.getKey(), k -> new double[2]);
                acc[0] += e.getValue().getFloat();
                acc[1]++;
            }
        }

        /** The averaged record (TRL's keys) and a reset. */
        Map<String, Object> flush(double lr, long step, double epoch, double elapsed) {
            Map<String, Object> r = MetricsLog.record();
            r.put("loss", lossCount == 0 ? Double.NaN : loss / lossCount);
            double rc = chosenCount == 0 ? Double.NaN : rewardChosen / chosenCount;
            double rr = rejectedCount == 0 ? Double.NaN : rewardRejected / rejectedCount;
            r.put("rewards/chosen", rc);
            r.put("rewards/rejected", rr);
            if (pairCount > 0) {
                r.put("rewards/accuracies", correct / pairCount);
                r.put("rewards/margins", margin / pairCount);
            } else {
                r.put("rewards/margins", rc - rr);
            }
            r.put("logps/chosen", chosenCount == 0 ? Double.NaN : logpChosen / chosenCount);
            r.put("logps/rejected", rejectedCount == 0 ? Double.NaN : logpRejected / rejectedCount);
            r.put("logits/chosen", tokensChosen == 0 ? Double.NaN : logitChosen / tokensChosen);
            r.put("logits/rejected", tokensRejected == 0 ? Double.NaN : logitRejected / tokensRejected);
            extra.forEach((k, v) -> r.put(k, v[0] / v[1]));
            if (step > 0) {
                double seconds = (System.nanoTime() - startNanos) / 1e9;
                r.put("learning_rate", lr);
                r.put("grad_norm", steps == 0 ? Double.NaN : gradNorm / steps);
                r.put("epoch", epoch);
                r.put("step", step);
                r.put("tokens_per_second", seconds > 0 ? tokens / seconds : 0.0);
                r.put("elapsed_s", elapsed);
            }
            reset();
            return r;
        }

        private void reset() {
            loss = rewardChosen = rewardRejected = correct = margin = 0;
            logpChosen = logpRejected = logitChosen = logitRejected = tokensChosen = tokensRejected = gradNorm = 0;
            lossCount = chosenCount = rejectedCount = pairCount = steps = tokens = 0;
            extra.clear();
            startNanos = System.nanoTime();
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

        public PreferenceTrainer build() {
            return new PreferenceTrainer(this);
        }
    }
}
