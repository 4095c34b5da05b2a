package io.github.align4j.train;

import io.github.align4j.Align4jException;
import io.github.align4j.internal.Texts;
import io.github.align4j.loss.FDivergence;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * The binder between TRL / alignment-handbook keys and the typed settings: each key is written once
 * here, with its help, how its text is read, what values it allows, the record component it reads
 * and the {@link TrainConfig.Builder} field it sets. Recipes, {@code --config} files, flags,
 * {@code TrainConfig.with} and {@code Builder.set} all come through {@link #get}; the typed builder
 * methods through the constants.
 */
final class ConfigKeys {
    private ConfigKeys() {}

    /** How a value is read: from a recipe's YAML value or a flag's text. {@code where} names the key for errors. */
    interface Parser<T> {
        T parse(Object value, String where);
    }

    /** What a value must satisfy: null when it does, else the rule ("must be > 0"). */
    interface Check<T> {
        String problem(T v);
    }

    /**
     * One key.
     *
     * @param plain the value as a recipe would write it (enums and lists as text), for {@code asMap} and checkpoints
     */
    record Key<T>(String name, String help, Parser<T> parser, Check<T> check, Function<TrainConfig, T> get,
            BiConsumer<TrainConfig.Builder, T> set, Function<T, Object> plain) {

        /** Checks a typed value; the error names the key and where it came from. */
        T checked(T v, String source) {
            String p = v == null ? "has no value" : check.problem(v);
            if (p != null) {
                throw new Align4jException(source + ": key '" + name + "' " + p);
            }
            return v;
        }

        /** Reads a value given as text or YAML, then checks it. */
        T parse(Object value, String source) {
            return checked(parser.parse(value, source + ": key '" + name + "'"), source);
        }

        Object plainOf(TrainConfig c) {
            return plain.apply(get.apply(c));
        }
    }

    private static final Map<String, Key<?>> ALL = new LinkedHashMap<>();

    private static <T> Key<T> key(String name, String help, Parser<T> parser, Check<T> check,
            Function<TrainConfig, T> get, BiConsumer<TrainConfig.Builder, T> set) {
        return key(name, help, parser, check, get, set, v -> v);
    }

    @SuppressWarnings("unchecked")
    private static <T> Key<T> key(String name, String help, Parser<T> parser, Check<T> check,
            Function<TrainConfig, T> get, BiConsumer<TrainConfig.Builder, T> set, Function<T, Object> plain) {
        Key<T> k = new Key<>(name, help, parser, check, get, set, plain);
        ALL.put(name, k);
        return k;
    }

    // ---- value rules ----
    private static Check<Double> positive() { return v -> v > 0 ? null : "must be > 0"; }
    private static Check<Double> nonNegative() { return v -> v >= 0 ? null : "must be ≥ 0"; }
    private static Check<Double> unit() { return v -> v >= 0 && v < 1 ? null : "must be in [0, 1)"; }
    private static Check<Integer> atLeast(int min) { return v -> v >= min ? null : "must be ≥ " + min; }
    private static <T> Check<T> any() { return v -> null; }

    // ---- the loss ----
    static final Key<Double> BETA = key("beta", "temperature β of the implicit reward (> 0)", ConfigKeys::dbl, positive(),
            c -> c.lossSpec().beta(), (b, v) -> b.beta = v);
    static final Key<String> LOSS_TYPE = key("loss_type", "a built-in loss name or a fully qualified class name",
            ConfigKeys::text, v -> v.isBlank() ? "must name a loss" : null, c -> c.lossSpec().type(), (b, v) -> b.lossType = v.trim());
    static final Key<Map<String, Double>> LOSS_WEIGHTS = key("loss_weights",
            "weighted sum of losses, e.g. dpo=1,sft=0.5 (overrides loss_type)", ConfigKeys::weights, any(),
            c -> c.lossSpec().weights(), (b, v) -> b.lossWeights = v, ConfigKeys::weightsText);
    static final Key<Double> LABEL_SMOOTHING = key("label_smoothing", "cDPO / robust ε", ConfigKeys::dbl, nonNegative(),
            c -> c.lossSpec().labelSmoothing(), (b, v) -> b.labelSmoothing = v);
    static final Key<Double> SIMPO_GAMMA = key("simpo_gamma", "SimPO target margin γ", ConfigKeys::dbl, any(),
            c -> c.lossSpec().simpoGamma(), (b, v) -> b.simpoGamma = v);
    static final Key<Double> DESIRABLE_WEIGHT = key("desirable_weight", "KTO weight of desirable examples", ConfigKeys::dbl,
            positive(), c -> c.lossSpec().desirableWeight(), (b, v) -> b.desirableWeight = v);
    static final Key<Double> UNDESIRABLE_WEIGHT = key("undesirable_weight", "KTO weight of undesirable examples",
            ConfigKeys::dbl, positive(), c -> c.lossSpec().undesirableWeight(), (b, v) -> b.undesirableWeight = v);
    static final Key<Double> DISCOPOP_TAU = key("discopop_tau", "DiscoPOP temperature τ of the mixing weight (> 0)",
            ConfigKeys::dbl, positive(), c -> c.lossSpec().discopopTau(), (b, v) -> b.discopopTau = v);
    static final Key<FDivergence.Type> F_DIVERGENCE_TYPE = key("f_divergence_type",
            "reverse_kl, forward_kl, js_divergence or alpha_divergence (f-DPO)",
            named(ConfigKeys::fDivergence, "reverse_kl, forward_kl, js_divergence or alpha_divergence"), any(),
            c -> c.lossSpec().fDivergence(), (b, v) -> b.fDivergence = v, FDivergence.Type::trlName);
    static final Key<Double> F_ALPHA_DIVERGENCE_COEF = key("f_alpha_divergence_coef", "α of alpha_divergence",
            ConfigKeys::dbl, any(), c -> c.lossSpec().fAlphaDivergenceCoef(), (b, v) -> b.fAlphaDivergenceCoef = v);
    static final Key<Boolean> REFERENCE_FREE = key("reference_free",
            "no reference model: its log-probs are taken as 0 (paired losses)", ConfigKeys::bool, any(),
            c -> c.lossSpec().referenceFree(), (b, v) -> b.referenceFree = v);
    static final Key<Boolean> USE_WEIGHTING = key("use_weighting",
            "WPO: weight each pair's loss by the policy's probability of both completions (pairs)", ConfigKeys::bool, any(),
            c -> c.lossSpec().useWeighting(), (b, v) -> b.useWeighting = v);
    static final Key<Double> LD_ALPHA = key("ld_alpha",
            "LD-DPO: completion tokens past the shorter completion's length count times α, in [0, 1] (1: off)",
            nullIs(1.0, ConfigKeys::dbl), v -> v >= 0 && v <= 1 ? null : "must be in [0, 1] (1: off)",
            c -> c.lossSpec().ldAlpha(), (b, v) -> b.ldAlpha = v);
    static final Key<Map<String, Object>> LOSS_KWARGS = key("loss_kwargs",
            "more loss options, e.g. {kl_detach: false}, handed to the loss (a custom loss gets them all)",
            ConfigKeys::options, any(), c -> c.lossSpec().kwargs(), (b, v) -> b.lossKwargs = v);

    // ---- the reference ----
    static final Key<Boolean> SYNC_REF_MODEL = key("sync_ref_model",
            "TR-DPO: every ref_model_sync_steps steps the reference becomes α·policy + (1−α)·reference", ConfigKeys::bool,
            any(), c -> c.reference().sync(), (b, v) -> b.syncRefModel = v);
    static final Key<Double> REF_MODEL_MIXUP_ALPHA = key("ref_model_mixup_alpha", "TR-DPO α, in (0, 1]", ConfigKeys::dbl,
            v -> v > 0 && v <= 1 ? null : "must be in (0, 1]", c -> c.reference().mixupAlpha(),
            (b, v) -> b.refModelMixupAlpha = v);
    static final Key<Integer> REF_MODEL_SYNC_STEPS = key("ref_model_sync_steps",
            "TR-DPO τ: optimizer steps between reference updates (≥ 1)", ConfigKeys::integer, atLeast(1),
            c -> c.reference().syncSteps(), (b, v) -> b.refModelSyncSteps = v);

    // ---- optimisation ----
    static final Key<Double> LEARNING_RATE = key("learning_rate", "peak learning rate (≥ 0)", ConfigKeys::dbl, nonNegative(),
            c -> c.optimization().learningRate(), (b, v) -> b.learningRate = v);
    static final Key<Scheduler> LR_SCHEDULER_TYPE = key("lr_scheduler_type", "cosine, linear or constant (after warmup)",
            named(Scheduler::of, "cosine, linear or constant"), any(), c -> c.optimization().scheduler(),
            (b, v) -> b.scheduler = v, Scheduler::key);
    static final Key<Double> WARMUP_RATIO = key("warmup_ratio", "warmup as a fraction of the optimizer steps",
            ConfigKeys::dbl, unit(), c -> c.optimization().warmupRatio(), (b, v) -> b.warmupRatio = v);
    static final Key<Integer> WARMUP_STEPS = key("warmup_steps", "warmup optimizer steps (wins over warmup_ratio when > 0)",
            ConfigKeys::integer, atLeast(0), c -> c.optimization().warmupSteps(), (b, v) -> b.warmupSteps = v);
    static final Key<Double> NUM_TRAIN_EPOCHS = key("num_train_epochs", "epochs over the training data", ConfigKeys::dbl,
            nonNegative(), c -> c.optimization().numTrainEpochs(), (b, v) -> b.numTrainEpochs = v);
    static final Key<Integer> MAX_STEPS = key("max_steps", "optimizer steps; > 0 overrides num_train_epochs",
            ConfigKeys::integer, v -> v >= -1 ? null : "must be > 0, or -1 to train num_train_epochs",
            c -> c.optimization().maxSteps(), (b, v) -> b.maxSteps = v);
    static final Key<Integer> BATCH_SIZE = key("per_device_train_batch_size", "pairs (or examples) per micro-batch",
            ConfigKeys::integer, atLeast(1), c -> c.optimization().batchSize(), (b, v) -> b.batchSize = v);
    static final Key<Integer> EVAL_BATCH_SIZE = key("per_device_eval_batch_size", "pairs per evaluation batch",
            ConfigKeys::integer, atLeast(1), c -> c.optimization().evalBatchSize(), (b, v) -> b.evalBatchSize = v);
    static final Key<Integer> GRADIENT_ACCUMULATION_STEPS = key("gradient_accumulation_steps",
            "micro-batches per optimizer step", ConfigKeys::integer, atLeast(1),
            c -> c.optimization().gradientAccumulationSteps(), (b, v) -> b.gradientAccumulationSteps = v);

    // ---- data (lengths are set here only) ----
    static final Key<Integer> MAX_LENGTH = key("max_length", "prompt + completion tokens", ConfigKeys::integer,
            v -> v >= 0 ? null : "must be ≥ 0 (0: no limit)", c -> c.data().maxLength(), (b, v) -> b.maxLength = v);
    static final Key<Integer> MAX_PROMPT_LENGTH = key("max_prompt_length", "prompt tokens (cut from the left)",
            ConfigKeys::integer, v -> v >= 0 ? null : "must be ≥ 0 (0: no limit)", c -> c.data().maxPromptLength(),
            (b, v) -> b.maxPromptLength = v);

    static final Key<Double> MAX_GRAD_NORM = key("max_grad_norm", "global gradient-norm clip (0 = off)", ConfigKeys::dbl,
            nonNegative(), c -> c.optimization().maxGradNorm(), (b, v) -> b.maxGradNorm = v);
    static final Key<Double> WEIGHT_DECAY = key("weight_decay", "AdamW decoupled weight decay (not on biases and norms)",
            ConfigKeys::dbl, nonNegative(), c -> c.optimization().weightDecay(), (b, v) -> b.weightDecay = v);
    static final Key<Double> ADAM_BETA1 = key("adam_beta1", "AdamW β1", ConfigKeys::dbl, unit(),
            c -> c.optimization().adamBeta1(), (b, v) -> b.adamBeta1 = v);
    static final Key<Double> ADAM_BETA2 = key("adam_beta2", "AdamW β2", ConfigKeys::dbl, unit(),
            c -> c.optimization().adamBeta2(), (b, v) -> b.adamBeta2 = v);
    static final Key<Double> ADAM_EPSILON = key("adam_epsilon", "AdamW ε", ConfigKeys::dbl, positive(),
            c -> c.optimization().adamEpsilon(), (b, v) -> b.adamEpsilon = v);
    static final Key<Integer> SEED = key("seed", "seed of shuffling and everything random", ConfigKeys::integer, any(),
            c -> (int) c.optimization().seed(), (b, v) -> b.seed = v);
    static final Key<Boolean> SHUFFLE = key("shuffle", "shuffle the training data every epoch", ConfigKeys::bool, any(),
            c -> c.optimization().shuffle(), (b, v) -> b.shuffle = v);
    static final Key<Boolean> GROUP_BY_LENGTH = key("group_by_length",
            "sort within windows by length, then shuffle the batches", ConfigKeys::bool, any(),
            c -> c.optimization().groupByLength(), (b, v) -> b.groupByLength = v);

    // ---- output ----
    static final Key<Integer> LOGGING_STEPS = key("logging_steps", "log every N optimizer steps", ConfigKeys::integer,
            atLeast(1), c -> c.output().loggingSteps(), (b, v) -> b.loggingSteps = v);
    static final Key<Integer> EVAL_STEPS = key("eval_steps", "evaluate every N optimizer steps (0: at the end only)",
            ConfigKeys::integer, atLeast(0), c -> c.output().evalSteps(), (b, v) -> b.evalSteps = v);
    static final Key<Integer> SAVE_STEPS = key("save_steps",
            "save OUTPUT/checkpoint-<step>/ every N steps (0: only final/)", ConfigKeys::integer, atLeast(0),
            c -> c.output().saveSteps(), (b, v) -> b.saveSteps = v);
    static final Key<Integer> SAVE_TOTAL_LIMIT = key("save_total_limit", "keep the newest K complete checkpoints (0: all)",
            ConfigKeys::integer, atLeast(0), c -> c.output().saveTotalLimit(), (b, v) -> b.saveTotalLimit = v);
    static final Key<Integer> MAX_NONFINITE_STEPS = key("max_nonfinite_steps",
            "stop (with a checkpoint of the last good weights) after this many steps in a row with a non-finite loss or gradient",
            ConfigKeys::integer, atLeast(1), c -> c.output().maxNonfiniteSteps(), (b, v) -> b.maxNonfiniteSteps = v);

    static final Key<Boolean> PRECOMPUTE_REF_LOG_PROBS = key("precompute_ref_log_probs",
            "score the reference once, cache it on disk", ConfigKeys::bool, any(), c -> c.reference().precompute(),
            (b, v) -> b.precomputeRef = v);
    static final Key<Double> EVAL_SPLIT = key("eval_split",
            "hold out this fraction of the training data when there is no eval file", ConfigKeys::dbl, unit(),
            c -> c.data().evalSplit(), (b, v) -> b.evalSplit = v);
    static final Key<String> MODEL_NAME_OR_PATH = key("model_name_or_path", "the policy's Hugging Face folder",
            ConfigKeys::text, any(), c -> c.model().path(), (b, v) -> b.modelPath = v);
    static final Key<String> REF_MODEL = key("ref_model",
            "the reference's folder (default: a frozen copy of the policy)", ConfigKeys::text, any(),
            c -> c.reference().path(), (b, v) -> b.refModelPath = v);
    static final Key<String> REF_LOGPS_FILE = key("ref_logps_file",
            "the reference's log-probs per row (a logprobs job's JSON lines): no reference pass", ConfigKeys::text, any(),
            c -> c.reference().logpsFile(), (b, v) -> b.refLogpsFile = v);
    static final Key<String> TRAIN_FILE = key("train_file", "training data", ConfigKeys::text, any(),
            c -> c.data().trainFile(), (b, v) -> b.trainFile = v);
    static final Key<String> EVAL_FILE = key("eval_file", "held-out data", ConfigKeys::text, any(),
            c -> c.data().evalFile(), (b, v) -> b.evalFile = v);
    static final Key<String> OUTPUT_DIR = key("output_dir", "where metrics and checkpoints go", ConfigKeys::text, any(),
            c -> c.output().dir(), (b, v) -> b.outputDir = v);
    static final Key<DeviceSpec> DEVICE = key("device", "cpu, gpu, gpu:N (the N-th GPU) or auto",
            named(DeviceSpec::of, "cpu, gpu, gpu:N or auto"), any(), c -> c.model().device(), (b, v) -> b.device = v,
            DeviceSpec::toString);
    static final Key<String> CHAT_TEMPLATE = key("chat_template",
            "a file with a Jinja chat template (default: the tokenizer's)", ConfigKeys::text, any(),
            c -> c.data().chatTemplate(), (b, v) -> b.chatTemplate = v);

    // ---- LoRA ----
    static final Key<Boolean> USE_PEFT = key("use_peft",
            "train LoRA adapters on a frozen base; the reference is the base with the adapters off", ConfigKeys::bool,
            any(), c -> c.lora().enabled(), (b, v) -> b.usePeft = v);
    static final Key<Integer> LORA_R = key("lora_r", "LoRA rank r (≥ 1)", ConfigKeys::integer, atLeast(1),
            c -> c.lora().r(), (b, v) -> b.loraR = v);
    static final Key<Double> LORA_ALPHA = key("lora_alpha",
            "LoRA alpha: the update is scaled by alpha/r (alpha/√r with use_rslora)", ConfigKeys::dbl, positive(),
            c -> c.lora().alpha(), (b, v) -> b.loraAlpha = v);
    static final Key<Double> LORA_DROPOUT = key("lora_dropout",
            "dropout on the adapters' input while training, in [0, 1)", ConfigKeys::dbl, unit(),
            c -> c.lora().dropout(), (b, v) -> b.loraDropout = v);
    static final Key<List<String>> LORA_TARGET_MODULES = key("lora_target_modules",
            "projections to adapt, e.g. q_proj,v_proj, or all-linear (default: PEFT's for the family: q_proj,v_proj; GPT-2 c_attn)",
            ConfigKeys::list, any(), c -> c.lora().targetModules(), (b, v) -> b.loraTargetModules = v,
            v -> String.join(",", v));
    static final Key<Boolean> USE_RSLORA = key("use_rslora", "rank-stabilised scaling alpha/√r", ConfigKeys::bool, any(),
            c -> c.lora().useRslora(), (b, v) -> b.useRslora = v);

    // ---- precision and memory ----
    static final Key<TorchDtype> TORCH_DTYPE = key("torch_dtype",
            "frozen weights (LoRA base, reference, logprobs): float32, float16, auto (the checkpoint's: half stays half), bfloat16 (held as float16)",
            nullIs(TorchDtype.FLOAT32, named(TorchDtype::of, "float32, float16, auto or bfloat16")), any(),
            c -> c.model().torchDtype(), (b, v) -> b.torchDtype = v, TorchDtype::key);
    static final Key<Boolean> GRADIENT_CHECKPOINTING = key("gradient_checkpointing",
            "keep only each decoder layer's input in the forward pass and recompute the layer in the backward pass",
            ConfigKeys::bool, any(), c -> c.model().gradientCheckpointing(), (b, v) -> b.gradientCheckpointing = v);
    static final Key<Boolean> LOAD_IN_4BIT = key("load_in_4bit",
            "not available (bitsandbytes is CUDA/Python only): use torch_dtype float16 with use_peft", ConfigKeys::bool,
            ConfigKeys::noQuantization, c -> false, (b, v) -> { });
    static final Key<Boolean> LOAD_IN_8BIT = key("load_in_8bit",
            "not available (bitsandbytes is CUDA/Python only): use torch_dtype float16 with use_peft", ConfigKeys::bool,
            ConfigKeys::noQuantization, c -> false, (b, v) -> { });
    static final Key<Boolean> APPLY_CHAT_TEMPLATE = key("apply_chat_template", "wrap plain-text rows in the chat template",
            ConfigKeys::bool, any(), c -> c.data().applyChatTemplate(), (b, v) -> b.applyChatTemplate = v);

    /** The keys that make the loss. */
    static final List<Key<?>> LOSS = List.of(LOSS_TYPE, LOSS_WEIGHTS, LABEL_SMOOTHING, SIMPO_GAMMA, DESIRABLE_WEIGHT,
            UNDESIRABLE_WEIGHT, DISCOPOP_TAU, F_DIVERGENCE_TYPE, F_ALPHA_DIVERGENCE_COEF, REFERENCE_FREE, LOSS_KWARGS);

    /** Loss options handed to the loss by name when set away from their defaults. */
    static final List<Key<Double>> LOSS_OPTIONS = List.of(LABEL_SMOOTHING, SIMPO_GAMMA, DESIRABLE_WEIGHT,
            UNDESIRABLE_WEIGHT, DISCOPOP_TAU);

    /** Every key, in the order of docs and {@code --help}. */
    static Collection<Key<?>> all() {
        return Collections.unmodifiableCollection(ALL.values());
    }

    /** The key of that name, or an error naming the nearest known key. */
    static Key<?> get(String name, String source) {
        Key<?> k = ALL.get(name);
        if (k == null) {
            throw new Align4jException(source + ": unknown key '" + name + "'" + nearest(name)
                    + ". Known keys: " + String.join(", ", ALL.keySet()));
        }
        return k;
    }

    static boolean known(String name) {
        return ALL.containsKey(name);
    }

    private static String nearest(String name) {
        String best = null;
        int bestD = Integer.MAX_VALUE;
        for (String k : ALL.keySet()) {
            int d = Texts.distance(name, k);
            if (d < bestD) {
                bestD = d;
                best = k;
            }
        }
        return best != null && bestD <= Math.max(3, name.length() / 3) ? " (did you mean '" + best + "'?)" : "";
    }

    private static FDivergence.Type fDivergence(String name) {
        for (FDivergence.Type t : FDivergence.Type.values()) {
            if (t.trlName().equals(name.trim().toLowerCase(Locale.ROOT))) {
                return t;
            }
        }
        return null;
    }

    private static String noQuantization(Boolean v) {
        return !v ? null : "is not available: 4- and 8-bit quantization (bitsandbytes) exists only for "
                + "CUDA in Python. Hold the frozen base in half precision instead: torch_dtype: float16 with "
                + "use_peft: true (LoRA), or --torch-dtype float16 --use-peft; drop the bnb_4bit_* keys";
    }

    // ---- parsers ----

    /** null is the given value (transformers' torch_dtype: null is float32; TRL's ld_alpha: null is off). */
    private static <T> Parser<T> nullIs(T dflt, Parser<T> p) {
        return (value, where) -> value == null ? dflt : p.parse(value, where);
    }

    private static <T> Parser<T> named(Function<String, T> of, String choices) {
        return (value, where) -> {
            T t = of.apply(String.valueOf(nonNull(value, where)));
            if (t == null) {
                throw new Align4jException(where + " must be " + choices + ", got '" + Texts.printable(String.valueOf(value)) + "'");
            }
            return t;
        };
    }

    private static Object nonNull(Object value, String where) {
        if (value == null) {
            throw new Align4jException(where + " has no value");
        }
        return value;
    }

    static Double dbl(Object value, String where) {
        nonNull(value, where);
        try {
            double v = value instanceof Number n ? n.doubleValue() : Double.parseDouble(value.toString().trim());
            if (Double.isFinite(v)) {
                return v;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new Align4jException(where + " must be a number, got '" + Texts.printable(String.valueOf(value)) + "'");
    }

    static Boolean bool(Object value, String where) {
        String s = String.valueOf(nonNull(value, where)).trim().toLowerCase(Locale.ROOT);
        if (!s.equals("true") && !s.equals("false")) {
            throw new Align4jException(where + " must be true or false, got '" + Texts.printable(String.valueOf(value)) + "'");
        }
        return Boolean.parseBoolean(s);
    }

    static String text(Object value, String where) {
        return String.valueOf(nonNull(value, where));
    }

    /** {@code [q_proj, v_proj]} or {@code q_proj,v_proj}. */
    static List<String> list(Object value, String where) {
        List<String> out = new ArrayList<>();
        if (nonNull(value, where) instanceof Collection<?> c) {
            c.forEach(x -> out.add(String.valueOf(x).trim()));
        } else {
            for (String t : value.toString().split(",")) {
                out.add(t.trim());
            }
        }
        out.removeIf(String::isBlank);
        return List.copyOf(out);
    }

    /**
     * An int from a recipe's or the command line's value: 4.9 is not an integer (never rounded), and
     * an integer beyond an int's range says so rather than that it is no integer.
     */
    static Integer integer(Object value, String where) {
        nonNull(value, where);
        java.math.BigInteger big = null;
        if (value instanceof Integer || value instanceof Long || value instanceof Short || value instanceof Byte) {
            big = java.math.BigInteger.valueOf(((Number) value).longValue());
        } else if (value instanceof java.math.BigInteger b) {
            big = b;
        } else if (value instanceof Number n) {
            double d = n.doubleValue();
            if (Double.isFinite(d) && d == Math.rint(d)) {
                big = new java.math.BigDecimal(d).toBigInteger();
            }
        } else {
            String t = value.toString().trim();
            if (t.matches("[+-]?[0-9]{1,4000}")) {
                big = new java.math.BigInteger(t);
            }
        }
        if (big == null) {
            throw new Align4jException(where + " must be an integer, got '" + Texts.printable(String.valueOf(value)) + "'");
        }
        if (big.bitLength() > 31) {
            throw new Align4jException(where + " is " + big + ", out of range [" + Integer.MIN_VALUE + ", "
                    + Integer.MAX_VALUE + "]");
        }
        return big.intValueExact();
    }

    /** loss_weights from {@code {dpo: 1, sft: 0.5}} or {@code dpo=1,sft=0.5}: name → weight, in order. */
    static Map<String, Double> weights(Object value, String where) {
        Map<String, Double> w = new LinkedHashMap<>();
        List<String[]> pairs = new ArrayList<>();
        if (nonNull(value, where) instanceof Map<?, ?> m) {
            m.forEach((a, b) -> pairs.add(new String[] {String.valueOf(a), String.valueOf(b)}));
        } else if (!value.toString().isBlank()) {
            for (String part : value.toString().split(",")) {
                String[] kv = part.split("=", 2);
                if (kv.length != 2 || kv[0].isBlank()) {
                    throw new Align4jException(where + ": expected NAME=WEIGHT,... (e.g. dpo=1,sft=0.5), got '"
                            + Texts.printable(part) + "'");
                }
                pairs.add(kv);
            }
        }
        for (String[] kv : pairs) {
            String name = kv[0].trim();
            double v;
            try {
                v = Double.parseDouble(kv[1].trim());
            } catch (NumberFormatException e) {
                throw new Align4jException(where + ": '" + Texts.printable(kv[1].trim()) + "' is not a number (in '"
                        + Texts.printable(name) + "')");
            }
            if (!Double.isFinite(v)) {
                throw new Align4jException(where + ": the weight of '" + Texts.printable(name) + "' must be finite");
            }
            if (w.put(name, v) != null) {
                throw new Align4jException(where + ": '" + Texts.printable(name) + "' is given twice; give each loss once");
            }
        }
        return w;
    }

    /** {@code dpo=1,sft=0.5}: whole weights without a fraction, as a recipe writes them. */
    static String weightsText(Map<String, Double> w) {
        List<String> parts = new ArrayList<>();
        w.forEach((a, b) -> parts.add(a + "=" + (b == Math.rint(b) && Math.abs(b) < 1e15 ? String.valueOf(b.longValue())
                : String.valueOf(b))));
        return String.join(",", parts);
    }

    /**
     * loss_kwargs from a map or from text {@code k=v,k2=v2}: numbers become Double, true/false
     * Boolean, anything else stays text.
     */
    static Map<String, Object> options(Object value, String where) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (nonNull(value, where) instanceof Map<?, ?> given) {
            for (Map.Entry<?, ?> e : given.entrySet()) {
                m.put(optionKey(String.valueOf(e.getKey()), where), optionValue(e.getValue(), where + " option " + e.getKey()));
            }
        } else {
            String text = value.toString().trim();
            for (String part : text.isEmpty() ? new String[0] : text.split(",")) {
                String[] kv = part.split("=", 2);
                if (kv.length != 2) {
                    throw new Align4jException(where + ": expected NAME=VALUE, got '" + Texts.printable(part) + "'");
                }
                m.put(optionKey(kv[0].trim(), where), optionValue(kv[1].trim(), where + " option " + kv[0].trim()));
            }
        }
        for (String k : m.keySet()) {
            if (ALL.containsKey(k)) {
                throw new Align4jException(where + ": '" + k + "' is a key of its own; set " + k + " directly, not in loss_kwargs");
            }
        }
        return Collections.unmodifiableMap(m);
    }

    private static String optionKey(String k, String where) {
        if (!k.matches("[A-Za-z_][A-Za-z0-9_.-]*")) {
            throw new Align4jException(where + ": '" + Texts.printable(k) + "' is not an option name (letters, digits and _)");
        }
        return k;
    }

    /** One option value: a number (as Double), a boolean or text; nothing nested. */
    static Object optionValue(Object v, String where) {
        if (v == null) {
            throw new Align4jException(where + " has no value");
        }
        if (v instanceof Boolean || v instanceof String s && !looksTyped(s)) {
            return v;
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        if (v instanceof String s) {
            String t = s.trim().toLowerCase(Locale.ROOT);
            if (t.equals("true") || t.equals("false")) {
                return Boolean.parseBoolean(t);
            }
            return Double.parseDouble(s.trim());
        }
        throw new Align4jException(where + " must be a number, true/false or text, not " + v.getClass().getSimpleName());
    }

    private static boolean looksTyped(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        if (t.equals("true") || t.equals("false")) {
            return true;
        }
        try {
            return Double.isFinite(Double.parseDouble(t));
        } catch (NumberFormatException e) {
            return false;
        }
    }
}
