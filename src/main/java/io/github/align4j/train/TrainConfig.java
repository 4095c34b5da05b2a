package io.github.align4j.train;

import io.github.align4j.Align4jException;
import io.github.align4j.loss.FDivergence;
import io.github.align4j.loss.Losses;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.loss.ReferenceFree;
import io.github.align4j.train.ConfigKeys.Key;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A training run's settings, typed: the {@link #model()}, the {@link #reference()}, the loss
 * ({@link #lossSpec()}), the {@link #optimization()}, the {@link #data()}, {@link #lora()} and the
 * {@link #output()}, each a record; the scheduler, dtype and device are enums. Immutable: build one with
 * {@code TrainConfig.builder().beta(0.1).learningRate(5e-7).build()}, from a YAML recipe under the
 * alignment-handbook / TRL key names ({@link #fromYaml}, or {@link PreferenceRun#fromRecipe}), or by key
 * ({@link #with}), as command-line flags do. One binder reads every key, so a key means the same from
 * a recipe, a flag and Java; every value is checked when set, and an unknown key is an error naming the
 * nearest known key. {@link PreferenceRun} honours every setting, as {@code align4j train} does (it
 * calls it); {@code PreferenceTrainer}, given a loaded policy and data, honours what it can and refuses
 * the rest naming the call that does it.
 */
public final class TrainConfig {
    /** The keys that make the loss. */
    public static final List<String> LOSS_KEYS = ConfigKeys.LOSS.stream().map(Key::name).toList();

    private static final TrainConfig DEFAULTS = new Builder().unchecked();

    private final ModelSpec model;
    private final ReferenceSpec reference;
    private final LossSpec lossSpec;
    private final Optimization optimization;
    private final DataSpec data;
    private final LoraSpec lora;
    private final OutputSpec output;
    /** Where each key that was set came from (a recipe file, "--flag", "TrainConfig.Builder"); a key not here is a default. */
    private final Map<String, String> sources;

    private TrainConfig(ModelSpec model, ReferenceSpec reference, LossSpec lossSpec, Optimization optimization,
            DataSpec data, LoraSpec lora, OutputSpec output, Map<String, String> sources) {
        this.model = model;
        this.reference = reference;
        this.lossSpec = lossSpec;
        this.optimization = optimization;
        this.data = data;
        this.lora = lora;
        this.output = output;
        this.sources = Collections.unmodifiableMap(new LinkedHashMap<>(sources));
    }

    /** The policy: its folder, dtype, device, recomputation. */
    public ModelSpec model() { return model; }
    /** The frozen reference: its folder or log-probs file, precomputation, TR-DPO's syncing. */
    public ReferenceSpec reference() { return reference; }
    /** The loss: type or weights, β, options, f-divergence, WPO, LD-DPO ({@link #loss()} builds it). */
    public LossSpec lossSpec() { return lossSpec; }
    /** The schedule, batches, AdamW, seed and data order. */
    public Optimization optimization() { return optimization; }
    /** The data files, held-out split, lengths and chat template. */
    public DataSpec data() { return data; }
    /** LoRA ({@code use_peft} and {@code lora_*}). */
    public LoraSpec lora() { return lora; }
    /** Where the run writes and how often it logs, evaluates and saves. */
    public OutputSpec output() { return output; }

    /** All defaults. */
    public static TrainConfig defaults() {
        return DEFAULTS;
    }

    /** Known keys with their help text and default, for --help and docs. */
    public static Map<String, String> keys() {
        Map<String, String> m = new LinkedHashMap<>();
        for (Key<?> k : ConfigKeys.all()) {
            m.put(k.name(), k.help() + " (default " + k.plainOf(DEFAULTS) + ")");
        }
        return m;
    }

    /**
     * A copy with one key set by its TRL / handbook name; text is parsed to the key's type.
     *
     * @param source where the value came from (a recipe file, "--flag"), named in errors and by {@link #describe}
     */
    public TrainConfig with(String name, Object value, String source) {
        return toBuilder().set(name, value, source).unchecked();
    }

    /** A copy with several keys set; {@code source} as in {@link #with(String, Object, String)}. */
    public TrainConfig with(Map<String, ?> overrides, String source) {
        Builder b = toBuilder();
        overrides.forEach((k, v) -> b.set(k, v, source));
        return b.unchecked();
    }

    /**
     * Reads a YAML recipe (alignment-handbook style, flat keys; {@code loss_kwargs} a mapping). Keys
     * of handbook recipes that mean nothing here ({@code bf16}, {@code push_to_hub}, ...) are accepted and returned in {@code ignored}.
     */
    public static TrainConfig fromYaml(Path file, TrainConfig base, List<String> ignored) {
        return fromYaml(file, base, ignored, List.of());
    }

    /**
     * Reads a YAML file whose top level holds trainer keys plus keys of its own (a sweep's
     * {@code grid:}): {@code otherKeys} are left to the caller. Errors name the file and line.
     */
    public static TrainConfig fromYaml(Path file, TrainConfig base, List<String> ignored, Collection<String> otherKeys) {
        return RecipeYaml.read(file, base, ignored, otherKeys);
    }

    /** Cross-key checks, run before any model loads. */
    public TrainConfig validated() {
        if (data.maxPromptLength() > 0 && data.maxLength() > 0 && data.maxPromptLength() >= data.maxLength()) {
            throw new Align4jException(describe("max_prompt_length") + " must be smaller than " + describe("max_length"));
        }
        if (optimization.maxSteps() <= 0 && optimization.numTrainEpochs() <= 0) {
            throw new Align4jException("set num_train_epochs > 0 or max_steps > 0 (" + describe("num_train_epochs") + ", "
                    + describe("max_steps") + ")");
        }
        if (reference.sync() && reference.precompute()) {
            throw new Align4jException("sync_ref_model (TR-DPO) changes the reference during training, so its log-probs "
                    + "cannot be precomputed: turn precompute_ref_log_probs off (or sync_ref_model)");
        }
        if (reference.sync() && lora.enabled()) {
            throw new Align4jException("sync_ref_model (TR-DPO) mixes the policy's weights into the reference, which "
                    + "use_peft (LoRA) does not allow: the default reference is the policy's own base with the adapters "
                    + "off (TRL does not mix a PEFT policy either). Train all weights (use_peft false), or turn "
                    + "sync_ref_model off");
        }
        return this;
    }

    /**
     * A key and its value for a message, saying where the value came from: {@code "max_length 1024 (the default)"} or
     * {@code "max_length 100 (from recipe.yaml)"}, so an error about a value the user never set says so.
     */
    public String describe(String key) {
        Object v = get(key);
        String src = sources.get(key);
        return key + " " + v + (src == null ? " (the default)" : " (from " + src + ")");
    }

    /** Whether a key was set (by a recipe, a flag or a builder), as opposed to left at its default. */
    public boolean isSet(String key) {
        ConfigKeys.get(key, "TrainConfig.isSet");
        return sources.containsKey(key);
    }

    /** A key's value as a recipe writes it (enums and lists as text); the typed value is in the records. */
    public Object get(String name) {
        if (!ConfigKeys.known(name)) {
            throw new IllegalArgumentException("unknown key " + name);
        }
        return ConfigKeys.get(name, "").plainOf(this);
    }

    /** Every key and its value as a recipe writes it, in the order of the docs: what checkpoints record. */
    public Map<String, Object> asMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        for (Key<?> k : ConfigKeys.all()) {
            m.put(k.name(), k.plainOf(this));
        }
        return Collections.unmodifiableMap(m);
    }

    /** The loss options (label_smoothing, simpo_gamma, desirable/undesirable weights, discopop_tau) set away from their defaults. */
    public Map<String, Double> lossOptions() {
        Map<String, Double> m = new LinkedHashMap<>();
        for (Key<Double> k : ConfigKeys.LOSS_OPTIONS) {
            if (!k.get().apply(this).equals(k.get().apply(DEFAULTS))) {
                m.put(k.name(), k.get().apply(this));
            }
        }
        return m;
    }

    /** Everything handed to the loss: {@link #lossOptions()}, then loss_kwargs. */
    public Map<String, Object> allLossOptions() {
        Map<String, Object> m = new LinkedHashMap<>(lossOptions());
        m.putAll(lossSpec.kwargs());
        return m;
    }

    /**
     * The loss these settings describe: {@code loss_weights} when set, else {@code loss_type}, with
     * {@link #allLossOptions()}; an option the loss does not read is an error that names it.
     */
    public PreferenceLoss loss() {
        PreferenceLoss loss = lossSpec.weights().isEmpty()
                ? Losses.create(lossSpec.type(), allLossOptions())
                : Losses.weighted(lossSpec.weights(), allLossOptions());
        loss = FDivergence.wrap(loss, lossSpec.fDivergence(), lossSpec.fAlphaDivergenceCoef());
        return lossSpec.referenceFree() ? ReferenceFree.wrap(loss) : loss;
    }

    /** True when a loss key (loss_type, loss_weights, loss options, loss_kwargs) is away from its default. */
    public boolean setsLoss() {
        for (Key<?> k : ConfigKeys.LOSS) {
            if (!k.plainOf(this).equals(k.plainOf(DEFAULTS))) {
                return true;
            }
        }
        return false;
    }

    /** A builder starting from the defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from these settings (and where each came from). */
    public Builder toBuilder() {
        Builder b = new Builder();
        for (Key<?> k : ConfigKeys.all()) {
            copy(k, this, b);
        }
        b.sources.putAll(sources);
        return b;
    }

    private static <T> void copy(Key<T> k, TrainConfig from, Builder to) {
        k.set().accept(to, k.get().apply(from));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TrainConfig c && asMap().equals(c.asMap());
    }

    @Override
    public int hashCode() {
        return asMap().hashCode();
    }

    @Override
    public String toString() {
        return asMap().toString();
    }

    /**
     * Typed settings: {@code TrainConfig.builder().beta(0.1).learningRate(5e-7).lossType("dpo").build()}.
     * Every value is checked when set (an {@link Align4jException} names the key); {@link #build} runs the
     * cross-key checks of {@link #validated}. Each method sets the TRL key its Javadoc names.
     */
    public static final class Builder {
        final Map<String, String> sources = new LinkedHashMap<>();
        // the defaults, written once
        double beta = 0.1;
        String lossType = "dpo";
        Map<String, Double> lossWeights = Map.of();
        double labelSmoothing = 0.0;
        double simpoGamma = 0.5;
        double desirableWeight = 1.0;
        double undesirableWeight = 1.0;
        double discopopTau = 0.05;
        FDivergence.Type fDivergence = FDivergence.Type.REVERSE_KL;
        double fAlphaDivergenceCoef = 1.0;
        boolean referenceFree = false;
        boolean useWeighting = false;
        double ldAlpha = 1.0;
        Map<String, Object> lossKwargs = Map.of();
        boolean syncRefModel = false;
        double refModelMixupAlpha = 0.6;
        int refModelSyncSteps = 512;
        double learningRate = 5e-7;
        Scheduler scheduler = Scheduler.COSINE;
        double warmupRatio = 0.0;
        int warmupSteps = 0;
        double numTrainEpochs = 1.0;
        int maxSteps = -1;
        int batchSize = 8;
        int evalBatchSize = 8;
        int gradientAccumulationSteps = 1;
        int maxLength = 1024;
        int maxPromptLength = 512;
        double maxGradNorm = 1.0;
        double weightDecay = 0.0;
        double adamBeta1 = 0.9;
        double adamBeta2 = 0.999;
        double adamEpsilon = 1e-8;
        int seed = 42;
        boolean shuffle = true;
        boolean groupByLength = false;
        int loggingSteps = 10;
        int evalSteps = 0;
        int saveSteps = 0;
        int saveTotalLimit = 0;
        int maxNonfiniteSteps = 3;
        boolean precomputeRef = false;
        double evalSplit = 0.0;
        String modelPath = "";
        String refModelPath = "";
        String refLogpsFile = "";
        String trainFile = "";
        String evalFile = "";
        String outputDir = "";
        DeviceSpec device = DeviceSpec.auto();
        String chatTemplate = "";
        boolean usePeft = false;
        int loraR = 16;
        double loraAlpha = 32.0;
        double loraDropout = 0.05;
        List<String> loraTargetModules = List.of();
        boolean useRslora = false;
        TorchDtype torchDtype = TorchDtype.FLOAT32;
        boolean gradientCheckpointing = false;
        boolean applyChatTemplate = false;

        private Builder() {}

        /** Any key by its TRL / handbook name (text is parsed to the key's type). */
        public Builder set(String key, Object value) {
            return set(key, value, "TrainConfig.Builder.set");
        }

        Builder set(String key, Object value, String source) {
            return apply(ConfigKeys.get(key, source), value, source);
        }

        private <T> Builder apply(Key<T> k, Object value, String source) {
            k.set().accept(this, k.parse(value, source));
            sources.put(k.name(), source);
            return this;
        }

        private <T> Builder put(Key<T> k, T value) {
            String source = "TrainConfig.Builder (" + k.name() + ")";
            k.set().accept(this, k.checked(value, source));
            sources.put(k.name(), source);
            return this;
        }

        /** One loss option, added to loss_kwargs (a number, a boolean or text). */
        public Builder lossOption(String name, Object value) {
            Map<String, Object> m = new LinkedHashMap<>(lossKwargs);
            m.put(name, value);
            return set("loss_kwargs", m, "TrainConfig.Builder (loss_kwargs)");
        }

        /** {@code beta}. */
        public Builder beta(double v) { return put(ConfigKeys.BETA, v); }
        /** {@code loss_type}: a built-in name (dpo, ipo, kto, ...) or a class name. */
        public Builder lossType(String v) { return put(ConfigKeys.LOSS_TYPE, v); }
        /** {@code loss_weights} as text: {@code dpo=1,sft=0.5}. */
        public Builder lossWeights(String v) { return set("loss_weights", v, "TrainConfig.Builder (loss_weights)"); }
        /** {@code loss_weights}: loss name → weight, in order. */
        public Builder lossWeights(Map<String, Double> v) { return put(ConfigKeys.LOSS_WEIGHTS, new LinkedHashMap<>(v)); }
        /** {@code label_smoothing}. */
        public Builder labelSmoothing(double v) { return put(ConfigKeys.LABEL_SMOOTHING, v); }
        /** {@code simpo_gamma}. */
        public Builder simpoGamma(double v) { return put(ConfigKeys.SIMPO_GAMMA, v); }
        /** {@code desirable_weight}. */
        public Builder desirableWeight(double v) { return put(ConfigKeys.DESIRABLE_WEIGHT, v); }
        /** {@code undesirable_weight}. */
        public Builder undesirableWeight(double v) { return put(ConfigKeys.UNDESIRABLE_WEIGHT, v); }
        /** {@code discopop_tau}. */
        public Builder discopopTau(double v) { return put(ConfigKeys.DISCOPOP_TAU, v); }
        /** {@code f_divergence_type}. */
        public Builder fDivergenceType(FDivergence.Type v) { return put(ConfigKeys.F_DIVERGENCE_TYPE, v); }
        /** {@code f_divergence_type} by TRL's name. */
        public Builder fDivergenceType(String v) { return set("f_divergence_type", v, "TrainConfig.Builder (f_divergence_type)"); }
        /** {@code f_alpha_divergence_coef}. */
        public Builder fAlphaDivergenceCoef(double v) { return put(ConfigKeys.F_ALPHA_DIVERGENCE_COEF, v); }
        /** {@code reference_free}. */
        public Builder referenceFree(boolean v) { return put(ConfigKeys.REFERENCE_FREE, v); }
        /** {@code loss_kwargs}. */
        public Builder lossKwargs(Map<String, ?> v) { return set("loss_kwargs", v, "TrainConfig.Builder (loss_kwargs)"); }
        /** {@code use_weighting} (WPO). */
        public Builder useWeighting(boolean v) { return put(ConfigKeys.USE_WEIGHTING, v); }
        /** {@code ld_alpha} (LD-DPO). */
        public Builder ldAlpha(double v) { return put(ConfigKeys.LD_ALPHA, v); }
        /** {@code sync_ref_model} (TR-DPO). */
        public Builder syncRefModel(boolean v) { return put(ConfigKeys.SYNC_REF_MODEL, v); }
        /** {@code ref_model_mixup_alpha}. */
        public Builder refModelMixupAlpha(double v) { return put(ConfigKeys.REF_MODEL_MIXUP_ALPHA, v); }
        /** {@code ref_model_sync_steps}. */
        public Builder refModelSyncSteps(int v) { return put(ConfigKeys.REF_MODEL_SYNC_STEPS, v); }
        /** {@code learning_rate}. */
        public Builder learningRate(double v) { return put(ConfigKeys.LEARNING_RATE, v); }
        /** {@code lr_scheduler_type}. */
        public Builder lrSchedulerType(Scheduler v) { return put(ConfigKeys.LR_SCHEDULER_TYPE, v); }
        /** {@code lr_scheduler_type} by name: cosine, linear or constant. */
        public Builder lrSchedulerType(String v) { return set("lr_scheduler_type", v, "TrainConfig.Builder (lr_scheduler_type)"); }
        /** {@code warmup_ratio}. */
        public Builder warmupRatio(double v) { return put(ConfigKeys.WARMUP_RATIO, v); }
        /** {@code warmup_steps}. */
        public Builder warmupSteps(int v) { return put(ConfigKeys.WARMUP_STEPS, v); }
        /** {@code num_train_epochs}. */
        public Builder numTrainEpochs(double v) { return put(ConfigKeys.NUM_TRAIN_EPOCHS, v); }
        /** {@code max_steps}. */
        public Builder maxSteps(int v) { return put(ConfigKeys.MAX_STEPS, v); }
        /** {@code per_device_train_batch_size}. */
        public Builder batchSize(int v) { return put(ConfigKeys.BATCH_SIZE, v); }
        /** {@code per_device_eval_batch_size}. */
        public Builder evalBatchSize(int v) { return put(ConfigKeys.EVAL_BATCH_SIZE, v); }
        /** {@code gradient_accumulation_steps}. */
        public Builder gradientAccumulationSteps(int v) { return put(ConfigKeys.GRADIENT_ACCUMULATION_STEPS, v); }
        /** {@code max_length}: the one place the run's lengths are set. */
        public Builder maxLength(int v) { return put(ConfigKeys.MAX_LENGTH, v); }
        /** {@code max_prompt_length}. */
        public Builder maxPromptLength(int v) { return put(ConfigKeys.MAX_PROMPT_LENGTH, v); }
        /** {@code max_grad_norm}. */
        public Builder maxGradNorm(double v) { return put(ConfigKeys.MAX_GRAD_NORM, v); }
        /** {@code weight_decay}. */
        public Builder weightDecay(double v) { return put(ConfigKeys.WEIGHT_DECAY, v); }
        /** {@code adam_beta1}. */
        public Builder adamBeta1(double v) { return put(ConfigKeys.ADAM_BETA1, v); }
        /** {@code adam_beta2}. */
        public Builder adamBeta2(double v) { return put(ConfigKeys.ADAM_BETA2, v); }
        /** {@code adam_epsilon}. */
        public Builder adamEpsilon(double v) { return put(ConfigKeys.ADAM_EPSILON, v); }
        /** {@code seed}. */
        public Builder seed(int v) { return put(ConfigKeys.SEED, v); }
        /** {@code shuffle}. */
        public Builder shuffle(boolean v) { return put(ConfigKeys.SHUFFLE, v); }
        /** {@code group_by_length}. */
        public Builder groupByLength(boolean v) { return put(ConfigKeys.GROUP_BY_LENGTH, v); }
        /** {@code logging_steps}. */
        public Builder loggingSteps(int v) { return put(ConfigKeys.LOGGING_STEPS, v); }
        /** {@code eval_steps}. */
        public Builder evalSteps(int v) { return put(ConfigKeys.EVAL_STEPS, v); }
        /** {@code save_steps}. */
        public Builder saveSteps(int v) { return put(ConfigKeys.SAVE_STEPS, v); }
        /** {@code save_total_limit}. */
        public Builder saveTotalLimit(int v) { return put(ConfigKeys.SAVE_TOTAL_LIMIT, v); }
        /** {@code max_nonfinite_steps}. */
        public Builder maxNonfiniteSteps(int v) { return put(ConfigKeys.MAX_NONFINITE_STEPS, v); }
        /** {@code precompute_ref_log_probs}. */
        public Builder precomputeRef(boolean v) { return put(ConfigKeys.PRECOMPUTE_REF_LOG_PROBS, v); }
        /** {@code eval_split}. */
        public Builder evalSplit(double v) { return put(ConfigKeys.EVAL_SPLIT, v); }
        /** {@code model_name_or_path}. */
        public Builder modelPath(String v) { return put(ConfigKeys.MODEL_NAME_OR_PATH, v); }
        /** {@code ref_model}. */
        public Builder refModelPath(String v) { return put(ConfigKeys.REF_MODEL, v); }
        /** {@code ref_logps_file}. */
        public Builder refLogpsFile(String v) { return put(ConfigKeys.REF_LOGPS_FILE, v); }
        /** {@code train_file}. */
        public Builder trainFile(String v) { return put(ConfigKeys.TRAIN_FILE, v); }
        /** {@code eval_file}. */
        public Builder evalFile(String v) { return put(ConfigKeys.EVAL_FILE, v); }
        /** {@code output_dir}. */
        public Builder outputDir(String v) { return put(ConfigKeys.OUTPUT_DIR, v); }
        /** {@code device}. */
        public Builder device(DeviceSpec v) { return put(ConfigKeys.DEVICE, v); }
        /** {@code device} by name: cpu, gpu, gpu:N or auto. */
        public Builder device(String v) { return set("device", v, "TrainConfig.Builder (device)"); }
        /** {@code chat_template}. */
        public Builder chatTemplate(String v) { return put(ConfigKeys.CHAT_TEMPLATE, v); }
        /** {@code apply_chat_template}. */
        public Builder applyChatTemplate(boolean v) { return put(ConfigKeys.APPLY_CHAT_TEMPLATE, v); }
        /** {@code use_peft}. */
        public Builder usePeft(boolean v) { return put(ConfigKeys.USE_PEFT, v); }
        /** {@code lora_r}. */
        public Builder loraR(int v) { return put(ConfigKeys.LORA_R, v); }
        /** {@code lora_alpha}. */
        public Builder loraAlpha(double v) { return put(ConfigKeys.LORA_ALPHA, v); }
        /** {@code lora_dropout}. */
        public Builder loraDropout(double v) { return put(ConfigKeys.LORA_DROPOUT, v); }
        /** {@code lora_target_modules}. */
        public Builder loraTargetModules(List<String> v) { return set("lora_target_modules", v, "TrainConfig.Builder (lora_target_modules)"); }
        /** {@code lora_target_modules}, e.g. {@code loraTargetModules("all-linear")} or {@code loraTargetModules("q_proj", "v_proj")}. */
        public Builder loraTargetModules(String... v) { return loraTargetModules(List.of(v)); }
        /** {@code use_rslora}. */
        public Builder useRslora(boolean v) { return put(ConfigKeys.USE_RSLORA, v); }
        /** {@code torch_dtype}. */
        public Builder torchDtype(TorchDtype v) { return put(ConfigKeys.TORCH_DTYPE, v); }
        /** {@code torch_dtype} by name: float32, float16, auto or bfloat16. */
        public Builder torchDtype(String v) { return set("torch_dtype", v, "TrainConfig.Builder (torch_dtype)"); }
        /** {@code gradient_checkpointing}. */
        public Builder gradientCheckpointing(boolean v) { return put(ConfigKeys.GRADIENT_CHECKPOINTING, v); }

        /** The settings, cross-checked ({@link TrainConfig#validated}). */
        public TrainConfig build() {
            return unchecked().validated();
        }

        TrainConfig unchecked() {
            return new TrainConfig(
                    new ModelSpec(modelPath, torchDtype, device, gradientCheckpointing),
                    new ReferenceSpec(refModelPath, refLogpsFile, precomputeRef, syncRefModel, refModelMixupAlpha,
                            refModelSyncSteps),
                    new LossSpec(lossType, lossWeights, beta, labelSmoothing, simpoGamma, desirableWeight,
                            undesirableWeight, discopopTau, fDivergence, fAlphaDivergenceCoef, referenceFree, useWeighting,
                            ldAlpha, lossKwargs),
                    new Optimization(learningRate, scheduler, warmupRatio, warmupSteps, numTrainEpochs, maxSteps,
                            batchSize, evalBatchSize, gradientAccumulationSteps, maxGradNorm, weightDecay, adamBeta1,
                            adamBeta2, adamEpsilon, seed, shuffle, groupByLength),
                    new DataSpec(trainFile, evalFile, evalSplit, maxLength, maxPromptLength, chatTemplate,
                            applyChatTemplate),
                    new LoraSpec(usePeft, loraR, loraAlpha, loraDropout, loraTargetModules, useRslora),
                    new OutputSpec(outputDir, loggingSteps, evalSteps, saveSteps, saveTotalLimit, maxNonfiniteSteps),
                    sources);
        }
    }
}
