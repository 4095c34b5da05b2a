package io.github.align4j.train.internal;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Devices;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.internal.FusedAttentionSwitch;
import io.github.align4j.train.MemoryPlan;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Times full DPO training steps through {@link PreferenceTrainer}: policy forward and backward,
 * reference forward (or a precomputed cache), sigmoid loss, global-norm clipping and AdamW, on
 * random token ids of a fixed shape or on given tokenized pairs. It is the step a user runs, not a
 * stripped-down copy, so whatever the trainer spends per step is in the figure.
 *
 * <pre>{@code
 * Bench.Result r = Bench.run(new Bench.Options(Path.of("bench-small"), 8, 64, 64, 20));
 * System.out.println(r.medianStepSeconds() + " s/step, " + r.tokensPerSecond() + " tokens/s");
 * }</pre>
 */
public final class Bench {
    static {
        Offline.ensure();
    }

    private Bench() {}

    /**
     * What to run.
     *
     * @param model a Hugging Face model folder (config.json + safetensors)
     * @param pairs preference pairs per step (the policy sees 2·pairs sequences)
     * @param prompt prompt tokens per sequence (random data)
     * @param completion chosen and rejected tokens per sequence (random data)
     * @param steps timed steps
     * @param warmup untimed steps before them
     * @param precomputeRef score the reference once before training instead of every step
     * @param data tokenized pairs to train on instead of random ids (null: random); the padding
     *     fraction is reported for them, and ids beyond the model's vocabulary are taken modulo it
     *     (a tokenizer of another model times the same lengths). With {@code warmup = 0} and
     *     {@code steps = ceil(size / pairs)} the timed steps are exactly the first epoch
     * @param groupByLength length-grouped batching (only matters for real data)
     * @param device "cpu", "gpu", "gpu:N" or "auto"
     * @param cacheDir where precomputed reference log-probs go (null: a temporary folder, deleted)
     * @param seed random ids and batch order
     * @param lora LoRA adapters on a frozen base (the reference is then the base with the adapters
     *     off); null for full fine-tuning with a separate reference loaded from the model folder
     * @param torchDtype the frozen weights' precision: float32, float16, bfloat16 (held as float16) or auto
     * @param gradientCheckpointing recompute each decoder layer in the backward pass
     */
    public record Options(Path model, int pairs, int prompt, int completion, int steps, int warmup,
            boolean precomputeRef, List<TokenizedPair> data, boolean groupByLength, String device, Path cacheDir,
            long seed, LoraConfig lora, String torchDtype, boolean gradientCheckpointing) {
        public Options(Path model, int pairs, int prompt, int completion, int steps) {
            this(model, pairs, prompt, completion, steps, 2, false, null, true, "auto", null, 0);
        }

        /** Full fine-tuning in float32 without recomputation. */
        public Options(Path model, int pairs, int prompt, int completion, int steps, int warmup,
                boolean precomputeRef, List<TokenizedPair> data, boolean groupByLength, String device, Path cacheDir,
                long seed) {
            this(model, pairs, prompt, completion, steps, warmup, precomputeRef, data, groupByLength, device, cacheDir, seed,
                    null, "float32", false);
        }

        /** These options with LoRA (null: full fine-tuning), the frozen weights' precision and recomputation. */
        public Options with(LoraConfig l, String dtype, boolean checkpointing) {
            return new Options(model, pairs, prompt, completion, steps, warmup, precomputeRef, data, groupByLength, device,
                    cacheDir, seed, l, dtype, checkpointing);
        }
    }

    /**
     * What was measured.
     *
     * @param stepSeconds wall time of each timed step
     * @param policyTokens policy tokens (prompt + completion, chosen and rejected) over the timed steps
     * @param paddingFraction share of padding in the padded [2B, T] batches the policy saw
     * @param peakRssMb the process's peak resident memory (VmHWM), -1 where /proc is missing
     * @param rssAfterWarmupMb resident memory after the warm-up steps (after the first step without warm-up)
     * @param rssEndMb resident memory after the last step
     * @param arraysAfterWarmup live native arrays of the policy's manager after the warm-up steps (or the first step)
     * @param arraysEnd the same after the last step
     * @param setupSeconds loading the models, creating the data and (with precompute) scoring the reference
     * @param rssAfterStepMb resident memory after each timed step (flat in a healthy run)
     * @param plan the memory planner's estimate for this run ({@link MemoryPlan}), next to {@code peakRssMb}
     * @param training what was trained: "full fine-tuning" or the LoRA settings, precision and recomputation
     * @param gflopPerStep the matrix-multiply work of one step in GFLOP by term (forward, reference,
     *     recompute, input_gradients, weight_gradients; docs/performance.md "GFLOP/s"); empty for real data,
     *     whose steps differ in shape
     * @param matmulPeakGflops the best float32 matmul rate measured in this process at the model's shapes
     * @param matmulPeakShape the product that reached it
     */
    public record Result(String model, long parameters, int pairs, int prompt, int completion, int threads,
            boolean precomputeRef, double[] stepSeconds, long policyTokens, double paddingFraction, double peakRssMb,
            double rssAfterWarmupMb, double rssEndMb, int arraysAfterWarmup, int arraysEnd, double setupSeconds,
            String device, boolean realData, int examples, boolean groupByLength, double[] rssAfterStepMb,
            MemoryPlan plan, String training, Map<String, Double> gflopPerStep, double matmulPeakGflops,
            String matmulPeakShape) {

        /** GFLOP of one step (Σ of {@link #gflopPerStep()}), NaN for real data. */
        public double stepGflop() {
            return gflopPerStep.isEmpty() ? Double.NaN : gflopPerStep.values().stream().mapToDouble(Double::doubleValue).sum();
        }

        /** The median step's achieved GFLOP/s, NaN for real data. */
        public double achievedGflops() {
            return stepGflop() / medianStepSeconds();
        }

        /** {@link #achievedGflops()} over {@link #matmulPeakGflops()}. */
        public double shareOfPeak() {
            return achievedGflops() / matmulPeakGflops;
        }

        /** The planner's estimated peak in MiB (as peakRssMb: /proc's kB / 1024). */
        public double estimatedPeakMb() {
            return plan.total() / 1048576.0;
        }

        public double medianStepSeconds() {
            return median(stepSeconds);
        }

        public double minStepSeconds() {
            return Arrays.stream(stepSeconds).min().orElse(Double.NaN);
        }

        public double maxStepSeconds() {
            return Arrays.stream(stepSeconds).max().orElse(Double.NaN);
        }

        /**
         * Policy tokens per second: of a median step for a fixed shape (as torch_dpo_step.py
         * reports it), over the whole timed run for real data (whose steps differ in length).
         */
        public double tokensPerSecond() {
            if (stepSeconds.length == 0) {
                return 0;
            }
            return realData ? policyTokens / totalSeconds() : policyTokens / (double) stepSeconds.length / medianStepSeconds();
        }

        /** Σ step times: one epoch's time for a real-data run. */
        public double totalSeconds() {
            return Arrays.stream(stepSeconds).sum();
        }

        /** The fields as one flat JSON-ready map (seconds, MB, counts). */
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("model", model);
            m.put("parameters", parameters);
            m.put("device", device);
            m.put("threads", threads);
            m.put("pairs", pairs);
            m.put("prompt", prompt);
            m.put("completion", completion);
            m.put("precompute_ref", precomputeRef);
            m.put("steps", stepSeconds.length);
            m.put("median_step_s", medianStepSeconds());
            m.put("min_step_s", minStepSeconds());
            m.put("max_step_s", maxStepSeconds());
            m.put("tokens_per_second", tokensPerSecond());
            m.put("total_step_s", totalSeconds());
            m.put("real_data", realData);
            if (realData) {
                m.put("examples", examples);
                m.put("group_by_length", groupByLength);
            }
            m.put("padding_fraction", paddingFraction);
            m.put("training", training);
            if (!realData) {
                m.put("gflop_per_step", gflopPerStep);
                m.put("achieved_gflops", achievedGflops());
            }
            m.put("matmul_peak_gflops", matmulPeakGflops);
            m.put("matmul_peak_shape", matmulPeakShape);
            if (!realData) {
                m.put("share_of_peak", shareOfPeak());
            }
            m.put("peak_rss_mb", peakRssMb);
            m.put("estimated_peak_mb", estimatedPeakMb());
            m.put("estimate_over_measured", peakRssMb > 0 ? estimatedPeakMb() / peakRssMb : Double.NaN);
            m.put("estimate_caveat", plan == null ? "" : plan.caveat());
            MemoryPlan.Breakdown b = plan.breakdown();
            Map<String, Long> terms = new LinkedHashMap<>();
            terms.put("frozen_weights", mb(b.frozenWeights()));
            terms.put("trainable_weights", mb(b.trainableWeights()));
            terms.put("gradients", mb(b.gradients()));
            terms.put("optimizer_state", mb(b.optimizerState()));
            terms.put("activations", mb(b.activations()));
            terms.put("converted_weights", mb(b.convertedWeights()));
            terms.put("logits", mb(b.logits()));
            terms.put("reference", mb(b.reference()));
            terms.put("allocator_slack", mb(b.allocatorSlack()));
            terms.put("overhead", mb(b.overhead()));
            m.put("estimate_mb", terms);
            m.put("rss_after_warmup_mb", rssAfterWarmupMb);
            m.put("rss_end_mb", rssEndMb);
            m.put("rss_mb_by_tenth", tenths(rssAfterStepMb));
            m.put("java_heap_committed_mb", Runtime.getRuntime().totalMemory() / 1048576.0);
            m.put("live_arrays_after_warmup", arraysAfterWarmup);
            m.put("live_arrays_end", arraysEnd);
            m.put("setup_s", setupSeconds);
            return m;
        }
    }

    private static long mb(long bytes) {
        return Math.round(bytes / 1048576.0);
    }

    /** Resident memory after the steps at 0%, 10%, ..., 100% of the timed run (rounded to MB). */
    static long[] tenths(double[] v) {
        if (v.length == 0) {
            return new long[0];
        }
        long[] out = new long[11];
        for (int i = 0; i <= 10; i++) {
            out[i] = Math.round(v[Math.min(v.length - 1, i * (v.length - 1) / 10)]);
        }
        return out;
    }

    /** Runs the benchmark; nothing is written except the precompute cache (a temporary folder by default). */
    public static Result run(Options o) {
        if (o.pairs() < 1 || o.steps() < 1 || o.warmup() < 0) {
            throw new Align4jException("bench needs --pairs ≥ 1, --steps ≥ 1 and --warmup ≥ 0");
        }
        if (o.data() == null && (o.prompt() < 1 || o.completion() < 1)) {
            throw new Align4jException("bench needs --prompt ≥ 1 and --completion ≥ 1");
        }
        long t0 = System.nanoTime();
        ModelConfig cfg = ModelConfig.load(o.model());
        List<TokenizedPair> data = o.data() != null ? fold(o.data(), cfg.vocabSize()) : randomPairs(cfg.vocabSize(), o);
        if (data.isEmpty()) {
            throw new Align4jException("bench: the data is empty");
        }
        Device device = Devices.resolve(o.device());
        int total = o.warmup() + o.steps();
        String dtype = o.torchDtype() == null ? "float32" : o.torchDtype();
        Map<String, Object> keys = new LinkedHashMap<>(Map.ofEntries(
                Map.entry("beta", 0.1), Map.entry("learning_rate", 1e-5), Map.entry("lr_scheduler_type", "constant"),
                Map.entry("warmup_steps", 0), Map.entry("weight_decay", 0.0), Map.entry("max_grad_norm", 1.0),
                Map.entry("per_device_train_batch_size", o.pairs()), Map.entry("gradient_accumulation_steps", 1),
                Map.entry("max_steps", total), Map.entry("logging_steps", Math.max(1, total)), Map.entry("seed", (int) o.seed()),
                Map.entry("group_by_length", o.groupByLength()), Map.entry("precompute_ref_log_probs", o.precomputeRef()),
                Map.entry("torch_dtype", dtype), Map.entry("gradient_checkpointing", o.gradientCheckpointing())));
        if (o.lora() != null) {
            keys.putAll(Map.of("use_peft", true, "lora_r", o.lora().r(), "lora_alpha", o.lora().alpha(),
                    "lora_dropout", o.lora().dropout(), "lora_target_modules", String.join(",", o.lora().targetModules()),
                    "use_rslora", o.lora().useRslora()));
        }
        TrainConfig tc = TrainConfig.defaults().with(keys, "bench");
        MemoryPlan.Dtype frozen = MemoryPlan.Dtype.of(dtype, cfg);
        MemoryPlan plan = plan(o, cfg, data, device, frozen);
        Path tmpCache = null;
        Path cacheDir = o.cacheDir();
        if (o.precomputeRef() && cacheDir == null) {
            try {
                tmpCache = Files.createTempDirectory("align4j-bench-ref");
            } catch (IOException e) {
                throw new Align4jException("cannot create a temporary folder for the reference cache: " + e.getMessage(), e);
            }
            cacheDir = tmpCache;
        }
        double[] times = new double[o.steps()];
        double[] rssSteps = new double[o.steps()];
        long[] tokens = {0};
        double[] rss = {-1, -1};
        int[] arrays = {-1, -1};
        double[] setup = {0};
        try (CausalLM policy = o.lora() == null ? CausalLM.load(o.model(), new CausalLM.Options(device, true, DataType.FLOAT32))
                : CausalLM.load(o.model(), new CausalLM.Options(device, false,
                        frozen == MemoryPlan.Dtype.FLOAT16 ? DataType.FLOAT16 : DataType.FLOAT32)).addAdapters(o.lora(), o.seed())) {
            PreferenceTrainer.StepListener listener = (step, seconds, policyTokens) -> {
                if (step == 1) {
                    setup[0] = (System.nanoTime() - t0) / 1e9 - seconds;
                }
                if (step == Math.max(1, o.warmup())) { // without warm-up: after the first step
                    rss[0] = rssMb("VmRSS");
                    arrays[0] = policy.liveArrays();
                }
                if (step > o.warmup()) {
                    times[(int) (step - o.warmup() - 1)] = seconds;
                    rssSteps[(int) (step - o.warmup() - 1)] = rssMb("VmRSS");
                    tokens[0] += policyTokens;
                }
                if (step == total) {
                    rss[1] = rssMb("VmRSS");
                    arrays[1] = policy.liveArrays();
                }
            };
            try (PreferenceTrainer t = PreferenceTrainer.builder().config(tc).policy(policy)
                    .loss(Losses.create("dpo", Map.of())).trainPairs(data).cacheDir(cacheDir).console(null)
                    .onStep(listener).build()) {
                t.train();
            }
            List<int[]> batches = Batches.epoch(data.size(), o.pairs(), o.seed(), 0, true, o.groupByLength(),
                    i -> data.get(i).prompt().length + Math.max(data.get(i).chosen().length, data.get(i).rejected().length));
            double padding = paddingFraction(batches, data);
            double peakRss = rssMb("VmHWM"); // before the matmul timing below allocates its operands
            Map<String, Double> gflop = new LinkedHashMap<>();
            if (o.data() == null) {
                StepFlops f = StepFlops.of(cfg, o.pairs(), o.prompt() + o.completion(), o.completion(), o.lora(),
                        o.gradientCheckpointing(), o.precomputeRef(), device.isGpu());
                gflop.put("forward", f.forward() / 1e9);
                gflop.put("reference", f.reference() / 1e9);
                gflop.put("recompute", f.recompute() / 1e9);
                gflop.put("input_gradients", f.inputGradients() / 1e9);
                gflop.put("weight_gradients", f.weightGradients() / 1e9);
            }
            int longest = data.stream().mapToInt(p -> p.prompt().length + Math.max(p.chosen().length, p.rejected().length))
                    .max().orElse(1);
            int scored = data.stream().mapToInt(p -> Math.max(p.chosen().length, p.rejected().length)).max().orElse(1);
            MatmulPeak peak = MatmulPeak.measure(cfg, device, 2L * o.pairs() * longest, 2L * o.pairs() * scored);
            return new Result(o.model().toString(), policy.parameterCount(), o.pairs(), o.prompt(), o.completion(),
                    threads(), o.precomputeRef(), times, tokens[0], padding, peakRss,
                    rss[0], rss[1], arrays[0], arrays[1], setup[0], device.toString(),
                    o.data() != null, data.size(), o.groupByLength(), rssSteps, plan, describe(o, frozen, device), gflop,
                    peak.gflops(), peak.shape());
        } finally {
            if (tmpCache != null) {
                deleteTree(tmpCache);
            }
        }
    }

    /**
     * The planner's estimate for a bench run: the longest sequence and completion of the data, the
     * reference as the trainer holds it (the base with the adapters off under LoRA, else a second
     * copy loaded from the folder, or none while training with a precomputed reference).
     */
    static MemoryPlan plan(Options o, ModelConfig cfg, List<TokenizedPair> data, Device device, MemoryPlan.Dtype frozen) {
        int longest = 1;
        int completion = 1;
        for (TokenizedPair p : data) {
            int c = Math.max(p.chosen().length, p.rejected().length);
            longest = Math.max(longest, p.prompt().length + c);
            completion = Math.max(completion, c);
        }
        MemoryPlan.Reference ref = o.precomputeRef() ? MemoryPlan.Reference.PRECOMPUTED
                : o.lora() != null ? MemoryPlan.Reference.ADAPTERS_OFF : MemoryPlan.Reference.SEPARATE;
        return MemoryPlan.builder(cfg).pairs(o.pairs()).tokens(longest, Math.min(completion, longest)).lora(o.lora())
                .frozenDtype(frozen).gradientCheckpointing(o.gradientCheckpointing()).reference(ref).device(device).build();
    }

    private static String describe(Options o, MemoryPlan.Dtype frozen, Device device) {
        String what = o.lora() == null ? "full fine-tuning" : String.format(java.util.Locale.ROOT,
                "LoRA r=%d alpha=%s dropout=%s on %s, %s frozen weights", o.lora().r(), o.lora().alpha(), o.lora().dropout(),
                o.lora().targetModules().isEmpty() ? "the default projections" : String.join(",", o.lora().targetModules()), frozen);
        return what + (o.gradientCheckpointing() ? ", gradient checkpointing" : "") + "; attention: " + attention(o, device)
                + (frozen == MemoryPlan.Dtype.FLOAT16
                ? "; no-grad products of float16 weights: " + io.github.align4j.model.internal.HalfProducts.decision() : "")
                + (device.isGpu() ? "" : "; huge pages: " + HugePages.describe());
    }

    /** Which attention the steps run (model.FusedAttention), and why. */
    private static String attention(Options o, Device device) {
        FusedAttentionSwitch.Mode mode = FusedAttentionSwitch.mode();
        if (mode != FusedAttentionSwitch.Mode.AUTO) {
            return mode.name().toLowerCase(java.util.Locale.ROOT) + " (" + FusedAttentionSwitch.PROPERTY + ")";
        }
        if (device.isGpu()) {
            return "fused (auto: a GPU)";
        }
        if (o.data() != null) {
            return "fused for rows of " + FusedAttentionSwitch.CPU_MIN_LENGTH + "+ tokens, else materialized (auto)";
        }
        int rows = o.prompt() + o.completion();
        return (FusedAttentionSwitch.fusedFor(rows, false) ? "fused" : "materialized") + " (auto: " + rows + "-token rows)";
    }

    /**
     * The share of padding in the policy's batches: chosen and rejected of a micro-batch's pairs are
     * padded to the longest of those 2B sequences, as {@link io.github.align4j.model.SequenceScorer}
     * does.
     */
    public static double paddingFraction(List<int[]> batches, List<TokenizedPair> data) {
        long padded = 0;
        long real = 0;
        for (int[] b : batches) {
            int max = 0;
            for (int i : b) {
                TokenizedPair p = data.get(i);
                int c = p.prompt().length + p.chosen().length;
                int r = p.prompt().length + p.rejected().length;
                max = Math.max(max, Math.max(c, r));
                real += c + r;
            }
            padded += 2L * max * b.length;
        }
        return padded == 0 ? 0 : 1.0 - (double) real / padded;
    }

    /** One epoch's micro-batches as the trainer forms them (seeded), for padding studies. */
    public static List<int[]> epochBatches(List<TokenizedPair> data, int batch, long seed, boolean groupByLength) {
        return Batches.epoch(data.size(), batch, seed, 0, true, groupByLength,
                i -> data.get(i).prompt().length + Math.max(data.get(i).chosen().length, data.get(i).rejected().length));
    }

    /**
     * The pairs with every id taken modulo the vocabulary, so that data tokenized for another model
     * can time this one (lengths, and so time and padding, are unchanged); unchanged when all fit.
     */
    static List<TokenizedPair> fold(List<TokenizedPair> data, int vocab) {
        boolean fits = true;
        for (TokenizedPair p : data) {
            fits &= fitsIn(p.prompt(), vocab) && fitsIn(p.chosen(), vocab) && fitsIn(p.rejected(), vocab);
        }
        if (fits) {
            return data;
        }
        List<TokenizedPair> out = new ArrayList<>(data.size());
        for (TokenizedPair p : data) {
            out.add(new TokenizedPair(mod(p.prompt(), vocab), mod(p.chosen(), vocab), mod(p.rejected(), vocab), p.row()));
        }
        return out;
    }

    private static boolean fitsIn(int[] ids, int vocab) {
        for (int id : ids) {
            if (id < 0 || id >= vocab) {
                return false;
            }
        }
        return true;
    }

    private static int[] mod(int[] ids, int vocab) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.floorMod(ids[i], vocab);
        }
        return out;
    }

    /**
     * Random pairs of the requested shape: a pool of 4 distinct batches (ids in [4, V)), cycled.
     * The shape, not the values, decides the time.
     */
    static List<TokenizedPair> randomPairs(int vocab, Options o) {
        Random r = new Random(o.seed());
        List<TokenizedPair> out = new ArrayList<>();
        int n = o.pairs() * Math.min(4, o.warmup() + o.steps());
        for (int i = 0; i < n; i++) {
            out.add(new TokenizedPair(ids(r, o.prompt(), vocab), ids(r, o.completion(), vocab), ids(r, o.completion(), vocab), i));
        }
        return out;
    }

    private static int[] ids(Random r, int n, int vocab) {
        int[] a = new int[n];
        int lo = Math.min(4, vocab - 1);
        for (int i = 0; i < n; i++) {
            a[i] = lo + r.nextInt(Math.max(1, vocab - lo));
        }
        return a;
    }

    /** Intra-op threads of the PyTorch engine (starts it). */
    public static int threads() {
        ai.djl.engine.Engine.getEngine("PyTorch");
        return ai.djl.pytorch.jni.JniUtils.getNumThreads();
    }

    /** A field of /proc/self/status in MB (VmRSS now, VmHWM peak), or -1 where there is none. */
    static double rssMb(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(field + ":")) {
                    String[] parts = line.substring(field.length() + 1).trim().split("\\s+");
                    return Long.parseLong(parts[0]) / 1024.0; // kB
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
    }

    static double median(double[] v) {
        if (v.length == 0) {
            return Double.NaN;
        }
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static void deleteTree(Path dir) {
        io.github.align4j.internal.FileTrees.deleteTree(dir);
    }
}
