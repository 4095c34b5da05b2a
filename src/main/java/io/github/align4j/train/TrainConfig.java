package io.github.align4j.train;

import io.github.align4j.internal.Texts;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A training run's settings under the alignment-handbook / TRL field names ({@code beta},
 * {@code loss_type}, {@code learning_rate}, {@code per_device_train_batch_size}, ...). Immutable:
 * build one with typed setters ({@code TrainConfig.builder().beta(0.1).learningRate(5e-7).build()}),
 * or by key with {@link #with} (a changed copy), as YAML recipes ({@link #fromYaml}) and
 * command-line flags do. Every value is validated when set, and an unknown key is an error that
 * names it and the nearest known key. {@link PreferenceRun} honours every setting, as {@code align4j
 * train} does (it calls it); {@code PreferenceTrainer}, given a loaded policy and data, honours what it
 * can and refuses the rest naming the call that does it.
 */
public final class TrainConfig {
    /** A key's type and default. */
    private record Key(String name, Class<?> type, Object dflt, String help) {}

    private static final Map<String, Key> KEYS = new LinkedHashMap<>();

    /** Keys of handbook recipes that mean nothing on this engine; accepted and reported as ignored. */
    static final Map<String, String> IGNORED = Map.ofEntries(
            Map.entry("bf16", "precision follows --dtype / the device"),
            Map.entry("fp16", "precision follows --dtype / the device"),
            Map.entry("gradient_checkpointing_kwargs", "recomputation is always layer by layer (use_reentrant means nothing here)"),
            Map.entry("push_to_hub", "align4j never uploads"),
            Map.entry("hub_model_id", "align4j never uploads"),
            Map.entry("hub_strategy", "align4j never uploads"),
            Map.entry("hub_private_repo", "align4j never uploads"),
            Map.entry("report_to", "metrics go to metrics.jsonl"),
            Map.entry("log_level", "align4j prints progress to the console"),
            Map.entry("logging_first_step", "the first step is always logged"),
            Map.entry("optim", "align4j's own AdamW is always used"),
            Map.entry("do_eval", "evaluation runs when eval data is given"),
            Map.entry("eval_strategy", "set eval_steps"),
            Map.entry("evaluation_strategy", "set eval_steps"),
            Map.entry("save_strategy", "set save_steps"),
            Map.entry("logging_strategy", "set logging_steps"),
            Map.entry("use_flash_attention_2", "attention is plain batched matrix products"),
            Map.entry("attn_implementation", "attention is plain batched matrix products"),
            Map.entry("preprocessing_num_workers", "tokenization uses all cores"),
            Map.entry("dataset_num_proc", "tokenization uses all cores"),
            Map.entry("remove_unused_columns", "not applicable"),
            Map.entry("run_name", "not applicable"),
            Map.entry("dataset_splits", "use train_file / eval_file"),
            Map.entry("dataset_mixer", "use train_file / eval_file"),
            Map.entry("bnb_4bit_quant_type", "4-bit quantization is not available (load_in_4bit); use torch_dtype float16"),
            Map.entry("use_bnb_nested_quant", "4-bit quantization is not available (load_in_4bit); use torch_dtype float16"),
            Map.entry("model_revision", "models load from local folders"),
            Map.entry("trust_remote_code", "models load from local folders"));

    static {
        key("beta", Double.class, 0.1, "temperature β of the implicit reward (> 0)");
        key("loss_type", String.class, "dpo", "a built-in loss name or a fully qualified class name");
        key("loss_weights", String.class, "", "weighted sum of losses, e.g. dpo=1,sft=0.5 (overrides loss_type)");
        key("label_smoothing", Double.class, 0.0, "cDPO / robust ε");
        key("simpo_gamma", Double.class, 0.5, "SimPO target margin γ");
        key("desirable_weight", Double.class, 1.0, "KTO weight of desirable examples");
        key("undesirable_weight", Double.class, 1.0, "KTO weight of undesirable examples");
        key("discopop_tau", Double.class, 0.05, "DiscoPOP temperature τ of the mixing weight (> 0)");
        key("f_divergence_type", String.class, "reverse_kl", "reverse_kl, forward_kl, js_divergence or alpha_divergence (f-DPO)");
        key("f_alpha_divergence_coef", Double.class, 1.0, "α of alpha_divergence");
        key("reference_free", Boolean.class, false, "no reference model: its log-probs are taken as 0 (paired losses)");
        key("use_weighting", Boolean.class, false, "WPO: weight each pair's loss by the policy's probability of both completions (pairs)");
        key("ld_alpha", Double.class, 1.0, "LD-DPO: completion tokens past the shorter completion's length count times α, in [0, 1] (1: off)");
        key("sync_ref_model", Boolean.class, false, "TR-DPO: every ref_model_sync_steps steps the reference becomes α·policy + (1−α)·reference");
        key("ref_model_mixup_alpha", Double.class, 0.6, "TR-DPO α, in (0, 1]");
        key("ref_model_sync_steps", Integer.class, 512, "TR-DPO τ: optimizer steps between reference updates (≥ 1)");
        key("loss_kwargs", Map.class, Map.of(), "more loss options, e.g. {kl_detach: false}, handed to the loss (a custom loss gets them all)");
        key("learning_rate", Double.class, 5e-7, "peak learning rate (≥ 0)");
        key("lr_scheduler_type", String.class, "cosine", "cosine, linear or constant (after warmup)");
        key("warmup_ratio", Double.class, 0.0, "warmup as a fraction of the optimizer steps");
        key("warmup_steps", Integer.class, 0, "warmup optimizer steps (wins over warmup_ratio when > 0)");
        key("num_train_epochs", Double.class, 1.0, "epochs over the training data");
        key("max_steps", Integer.class, -1, "optimizer steps; > 0 overrides num_train_epochs");
        key("per_device_train_batch_size", Integer.class, 8, "pairs (or examples) per micro-batch");
        key("per_device_eval_batch_size", Integer.class, 8, "pairs per evaluation batch");
        key("gradient_accumulation_steps", Integer.class, 1, "micro-batches per optimizer step");
        key("max_length", Integer.class, 1024, "prompt + completion tokens");
        key("max_prompt_length", Integer.class, 512, "prompt tokens (cut from the left)");
        key("max_grad_norm", Double.class, 1.0, "global gradient-norm clip (0 = off)");
        key("weight_decay", Double.class, 0.0, "AdamW decoupled weight decay (not on biases and norms)");
        key("adam_beta1", Double.class, 0.9, "AdamW β1");
        key("adam_beta2", Double.class, 0.999, "AdamW β2");
        key("adam_epsilon", Double.class, 1e-8, "AdamW ε");
        key("seed", Integer.class, 42, "seed of shuffling and everything random");
        key("shuffle", Boolean.class, true, "shuffle the training data every epoch");
        key("group_by_length", Boolean.class, false, "sort within windows by length, then shuffle the batches");
        key("logging_steps", Integer.class, 10, "log every N optimizer steps");
        key("eval_steps", Integer.class, 0, "evaluate every N optimizer steps (0: at the end only)");
        key("save_steps", Integer.class, 0, "save OUTPUT/checkpoint-<step>/ every N steps (0: only final/)");
        key("save_total_limit", Integer.class, 0, "keep the newest K complete checkpoints (0: all)");
        key("max_nonfinite_steps", Integer.class, 3,
                "stop (with a checkpoint of the last good weights) after this many steps in a row with a non-finite loss or gradient");
        key("precompute_ref_log_probs", Boolean.class, false, "score the reference once, cache it on disk");
        key("eval_split", Double.class, 0.0, "hold out this fraction of the training data when there is no eval file");
        key("model_name_or_path", String.class, "", "the policy's Hugging Face folder");
        key("ref_model", String.class, "", "the reference's folder (default: a frozen copy of the policy)");
        key("ref_logps_file", String.class, "", "the reference's log-probs per row (a logprobs job's JSON lines): no reference pass");
        key("train_file", String.class, "", "training data");
        key("eval_file", String.class, "", "held-out data");
        key("output_dir", String.class, "", "where metrics and checkpoints go");
        key("device", String.class, "auto", "cpu, gpu, gpu:N (the N-th GPU) or auto");
        key("chat_template", String.class, "", "a file with a Jinja chat template (default: the tokenizer's)");
        key("use_peft", Boolean.class, false, "train LoRA adapters on a frozen base; the reference is the base with the adapters off");
        key("lora_r", Integer.class, 16, "LoRA rank r (≥ 1)");
        key("lora_alpha", Double.class, 32.0, "LoRA alpha: the update is scaled by alpha/r (alpha/√r with use_rslora)");
        key("lora_dropout", Double.class, 0.05, "dropout on the adapters' input while training, in [0, 1)");
        key("lora_target_modules", String.class, "",
                "projections to adapt, e.g. q_proj,v_proj, or all-linear (default: PEFT's for the family: q_proj,v_proj; GPT-2 c_attn)");
        key("use_rslora", Boolean.class, false, "rank-stabilised scaling alpha/√r");
        key("torch_dtype", String.class, "float32",
                "frozen weights (LoRA base, reference, logprobs): float32, float16, auto (the checkpoint's: half stays half), bfloat16 (held as float16)");
        key("gradient_checkpointing", Boolean.class, false,
                "keep only each decoder layer's input in the forward pass and recompute the layer in the backward pass");
        key("load_in_4bit", Boolean.class, false, "not available (bitsandbytes is CUDA/Python only): use torch_dtype float16 with use_peft");
        key("load_in_8bit", Boolean.class, false, "not available (bitsandbytes is CUDA/Python only): use torch_dtype float16 with use_peft");
        key("apply_chat_template", Boolean.class, false, "wrap plain-text rows in the chat template");
    }

    private static void key(String name, Class<?> type, Object dflt, String help) {
        KEYS.put(name, new Key(name, type, dflt, help));
    }

    private final Map<String, Object> values;
    /** Where each key that was set came from (a recipe file, "command line", "Builder"); a key not here is a default. */
    private final Map<String, String> sources;

    private TrainConfig(Map<String, Object> values, Map<String, String> sources) {
        this.values = Collections.unmodifiableMap(values);
        this.sources = Collections.unmodifiableMap(sources);
    }

    /** All defaults. */
    public static TrainConfig defaults() {
        Map<String, Object> v = new LinkedHashMap<>();
        KEYS.values().forEach(k -> v.put(k.name(), k.dflt()));
        return new TrainConfig(v, Map.of());
    }

    /** Known keys with their help text, for --help and docs. */
    public static Map<String, String> keys() {
        Map<String, String> m = new LinkedHashMap<>();
        KEYS.values().forEach(k -> m.put(k.name(), k.help() + " (default " + k.dflt() + ")"));
        return m;
    }

    /**
     * A copy with one key set. Strings are parsed to the key's type.
     *
     * @param source where the value came from (a recipe file, "--flag"), named in errors
     */
    public TrainConfig with(String name, Object value, String source) {
        Key k = KEYS.get(name);
        if (k == null) {
            throw new Align4jException(source + ": unknown key '" + name + "'" + nearest(name)
                    + ". Known keys: " + String.join(", ", KEYS.keySet()));
        }
        Object v = convert(k, value, source);
        Map<String, Object> m = new LinkedHashMap<>(values);
        m.put(name, v);
        Map<String, String> src = new LinkedHashMap<>(sources);
        src.put(name, source);
        return new TrainConfig(m, src);
    }

    /** A copy with several keys set. */
    public TrainConfig with(Map<String, ?> overrides, String source) {
        TrainConfig c = this;
        for (Map.Entry<String, ?> e : overrides.entrySet()) {
            c = c.with(e.getKey(), e.getValue(), source);
        }
        return c;
    }

    /**
     * Reads a YAML recipe (alignment-handbook style, flat keys; {@code loss_kwargs} a mapping). Keys
     * listed in {@link #IGNORED} are accepted and returned in {@code ignored}.
     */
    public static TrainConfig fromYaml(Path file, TrainConfig base, List<String> ignored) {
        return fromYaml(file, base, ignored, List.of());
    }

    /**
     * Reads a YAML file whose top level holds trainer keys plus keys of its own (a sweep's
     * {@code grid:}): {@code otherKeys} are left to the caller. Errors name the file and line.
     */
    public static TrainConfig fromYaml(Path file, TrainConfig base, List<String> ignored, java.util.Collection<String> otherKeys) {
        return RecipeYaml.read(file, base, ignored, otherKeys);
    }

    private static Object convert(Key k, Object value, String source) {
        String where = source + ": key '" + k.name() + "'";
        if (value == null && (k.name().equals("torch_dtype") || k.name().equals("ld_alpha"))) {
            // torch_dtype: null is transformers' float32; ld_alpha: null is TRL's "off", as α = 1
            return k.dflt(); // the handbook's config_full.yaml says torch_dtype: null
        }
        if (value == null) {
            throw new Align4jException(where + " has no value");
        }
        try {
            Object v;
            if (k.type() == Double.class) {
                v = value instanceof Number n ? n.doubleValue() : Double.parseDouble(value.toString().trim());
                if (!Double.isFinite((Double) v)) {
                    throw new NumberFormatException();
                }
            } else if (k.type() == Integer.class) {
                v = integer(value, where);
            } else if (k.type() == Map.class) {
                v = options(value, where);
            } else if (k.type() == Boolean.class) {
                String s = value.toString().trim().toLowerCase(Locale.ROOT);
                if (!s.equals("true") && !s.equals("false")) {
                    throw new Align4jException(where + " must be true or false, got '" + value + "'");
                }
                v = Boolean.parseBoolean(s);
            } else if (value instanceof java.util.Collection<?> list) { // lora_target_modules: [q_proj, v_proj]
                List<String> parts = new ArrayList<>();
                list.forEach(x -> parts.add(String.valueOf(x).trim()));
                v = String.join(",", parts);
            } else if (value instanceof Map<?, ?> m) { // loss_weights: {dpo: 1, sft: 0.5}
                List<String> parts = new ArrayList<>();
                m.forEach((a, b) -> parts.add(a + "=" + (b instanceof Double d && d == Math.rint(d) && !d.isInfinite()
                        ? String.valueOf(d.longValue()) : String.valueOf(b))));
                v = String.join(",", parts);
            } else {
                v = value.toString();
            }
            validate(k.name(), v, where);
            return v;
        } catch (NumberFormatException | ArithmeticException e) {
            throw new Align4jException(where + " must be " + (k.type() == Integer.class ? "an integer" : "a number")
                    + ", got '" + value + "'");
        }
    }

    /**
     * An int from a recipe's or the command line's value: 4.9 is not an integer (never rounded), and
     * an integer beyond an int's range says so rather than that it is no integer.
     */
    private static int integer(Object value, String where) {
        java.math.BigInteger big;
        if (value instanceof Integer || value instanceof Long || value instanceof Short || value instanceof Byte) {
            big = java.math.BigInteger.valueOf(((Number) value).longValue());
        } else if (value instanceof java.math.BigInteger b) {
            big = b;
        } else if (value instanceof Number n) {
            double d = n.doubleValue();
            if (!Double.isFinite(d) || d != Math.rint(d)) {
                throw new NumberFormatException();
            }
            big = new java.math.BigDecimal(d).toBigInteger();
        } else {
            String t = value.toString().trim();
            if (!t.matches("[+-]?[0-9]{1,4000}")) {
                throw new NumberFormatException();
            }
            big = new java.math.BigInteger(t);
        }
        if (big.bitLength() > 31) {
            throw new Align4jException(where + " is " + big + ", out of range [" + Integer.MIN_VALUE + ", "
                    + Integer.MAX_VALUE + "]");
        }
        return big.intValueExact();
    }

    /**
     * loss_kwargs from a map or from text {@code k=v,k2=v2}: numbers become Double, true/false
     * Boolean, anything else stays text.
     */
    private static Map<String, Object> options(Object value, String where) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (value instanceof Map<?, ?> given) {
            for (Map.Entry<?, ?> e : given.entrySet()) {
                m.put(optionKey(String.valueOf(e.getKey()), where), optionValue(e.getValue(), where + " option " + e.getKey()));
            }
        } else {
            String text = value.toString().trim();
            for (String part : text.isEmpty() ? new String[0] : text.split(",")) {
                String[] kv = part.split("=", 2);
                if (kv.length != 2) {
                    throw new Align4jException(where + ": expected NAME=VALUE, got '" + part + "'");
                }
                m.put(optionKey(kv[0].trim(), where), optionValue(kv[1].trim(), where + " option " + kv[0].trim()));
            }
        }
        for (String k : m.keySet()) {
            if (KEYS.containsKey(k)) {
                throw new Align4jException(where + ": '" + k + "' is a key of its own; set " + k + " directly, not in loss_kwargs");
            }
        }
        return Collections.unmodifiableMap(m);
    }

    private static String optionKey(String k, String where) {
        if (!k.matches("[A-Za-z_][A-Za-z0-9_.-]*")) {
            throw new Align4jException(where + ": '" + k + "' is not an option name (letters, digits and _)");
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

    private static void validate(String name, Object v, String where) {
        switch (name) {
            case "beta":
                require((Double) v > 0, where, "must be > 0");
                break;
            case "learning_rate":
            case "weight_decay":
            case "max_grad_norm":
            case "label_smoothing":
            case "num_train_epochs":
                require((Double) v >= 0, where, "must be ≥ 0");
                break;
            case "desirable_weight":
            case "undesirable_weight":
            case "discopop_tau":
                require((Double) v > 0, where, "must be > 0");
                break;
            case "warmup_ratio":
            case "eval_split":
                require((Double) v >= 0 && (Double) v < 1, where, "must be in [0, 1)");
                break;
            case "adam_beta1":
            case "adam_beta2":
                require((Double) v >= 0 && (Double) v < 1, where, "must be in [0, 1)");
                break;
            case "adam_epsilon":
                require((Double) v > 0, where, "must be > 0");
                break;
            case "per_device_train_batch_size":
            case "per_device_eval_batch_size":
            case "gradient_accumulation_steps":
            case "logging_steps":
            case "max_nonfinite_steps":
                require((Integer) v >= 1, where, "must be ≥ 1");
                break;
            case "max_length":
            case "max_prompt_length":
                require((Integer) v >= 0, where, "must be ≥ 0 (0: no limit)");
                break;
            case "max_steps":
                require((Integer) v >= -1, where, "must be > 0, or -1 to train num_train_epochs");
                break;
            case "warmup_steps":
            case "eval_steps":
            case "save_steps":
            case "save_total_limit":
                require((Integer) v >= 0, where, "must be ≥ 0");
                break;
            case "lr_scheduler_type":
                require(List.of("cosine", "linear", "constant", "constant_with_warmup").contains(v), where,
                        "must be cosine, linear or constant, got '" + v + "'");
                break;
            case "device":
                require(List.of("cpu", "gpu", "auto", "cuda").contains(v) || String.valueOf(v).matches("(gpu|cuda):\\d{1,4}"),
                        where, "must be cpu, gpu, gpu:N or auto");
                break;
            case "f_divergence_type":
                require(List.of("reverse_kl", "forward_kl", "js_divergence", "alpha_divergence").contains(v), where,
                        "must be reverse_kl, forward_kl, js_divergence or alpha_divergence, got '" + v + "'");
                break;
            case "ld_alpha":
                require((Double) v >= 0 && (Double) v <= 1, where, "must be in [0, 1] (1: off)");
                break;
            case "ref_model_mixup_alpha":
                require((Double) v > 0 && (Double) v <= 1, where, "must be in (0, 1]");
                break;
            case "ref_model_sync_steps":
                require((Integer) v >= 1, where, "must be ≥ 1");
                break;
            case "f_alpha_divergence_coef":
                require(Double.isFinite((Double) v), where, "must be a finite number");
                break;
            case "lora_r":
                require((Integer) v >= 1, where, "must be ≥ 1");
                break;
            case "lora_alpha":
                require((Double) v > 0, where, "must be > 0");
                break;
            case "lora_dropout":
                require((Double) v >= 0 && (Double) v < 1, where, "must be in [0, 1)");
                break;
            case "torch_dtype":
                require(List.of("float32", "float16", "auto", "bfloat16").contains(v), where,
                        "must be float32, float16, auto or bfloat16, got '" + v + "'");
                break;
            case "load_in_4bit":
            case "load_in_8bit":
                require(!(Boolean) v, where, "is not available: 4- and 8-bit quantization (bitsandbytes) exists only for "
                        + "CUDA in Python. Hold the frozen base in half precision instead: torch_dtype: float16 with "
                        + "use_peft: true (LoRA), or --torch-dtype float16 --use-peft; drop the bnb_4bit_* keys");
                break;
            default:
        }
    }

    private static void require(boolean ok, String where, String what) {
        if (!ok) {
            throw new Align4jException(where + " " + what);
        }
    }

    private static String nearest(String name) {
        String best = null;
        int bestD = Integer.MAX_VALUE;
        for (String k : KEYS.keySet()) {
            int d = Texts.distance(name, k);
            if (d < bestD) {
                bestD = d;
                best = k;
            }
        }
        return best != null && bestD <= Math.max(3, name.length() / 3) ? " (did you mean '" + best + "'?)" : "";
    }

    static String firstLine(String s) {
        return Texts.firstLine(s);
    }

    /** Cross-key checks, run before any model loads. */
    public TrainConfig validated() {
        if (maxPromptLength() > 0 && maxLength() > 0 && maxPromptLength() >= maxLength()) {
            throw new Align4jException(describe("max_prompt_length") + " must be smaller than " + describe("max_length"));
        }
        if (maxSteps() <= 0 && numTrainEpochs() <= 0) {
            throw new Align4jException("set num_train_epochs > 0 or max_steps > 0 (" + describe("num_train_epochs") + ", "
                    + describe("max_steps") + ")");
        }
        if (syncRefModel() && precomputeRef()) {
            throw new Align4jException("sync_ref_model (TR-DPO) changes the reference during training, so its log-probs "
                    + "cannot be precomputed: turn precompute_ref_log_probs off (or sync_ref_model)");
        }
        if (syncRefModel() && usePeft()) {
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
        get(key);
        return sources.containsKey(key);
    }

    public Object get(String name) {
        if (!KEYS.containsKey(name)) {
            throw new IllegalArgumentException("unknown key " + name);
        }
        return values.get(name);
    }

    public Map<String, Object> asMap() {
        return values;
    }

    private double d(String k) {
        return (Double) values.get(k);
    }

    private int i(String k) {
        return (Integer) values.get(k);
    }

    private String s(String k) {
        return (String) values.get(k);
    }

    public double beta() { return d("beta"); }
    public double labelSmoothing() { return d("label_smoothing"); }
    public double simpoGamma() { return d("simpo_gamma"); }
    public double desirableWeight() { return d("desirable_weight"); }
    public double undesirableWeight() { return d("undesirable_weight"); }
    public double discopopTau() { return d("discopop_tau"); }
    /** reference_free: the reference's log-probs are taken as 0 and no reference is loaded. */
    public boolean referenceFree() { return (Boolean) values.get("reference_free"); }
    /** WPO ({@code use_weighting}). */
    public boolean useWeighting() { return (Boolean) values.get("use_weighting"); }
    /** LD-DPO's α ({@code ld_alpha}; 1: off). */
    public double ldAlpha() { return d("ld_alpha"); }
    /** TR-DPO ({@code sync_ref_model}). */
    public boolean syncRefModel() { return (Boolean) values.get("sync_ref_model"); }
    public double refModelMixupAlpha() { return d("ref_model_mixup_alpha"); }
    public int refModelSyncSteps() { return i("ref_model_sync_steps"); }
    /** loss_kwargs: more options for the loss, as given (numbers as Double). */
    @SuppressWarnings("unchecked")
    public Map<String, Object> lossKwargs() { return (Map<String, Object>) values.get("loss_kwargs"); }
    public String lossType() { return s("loss_type"); }
    public String lossWeights() { return s("loss_weights"); }
    public double learningRate() { return d("learning_rate"); }
    public String lrSchedulerType() { return s("lr_scheduler_type"); }
    public double warmupRatio() { return d("warmup_ratio"); }
    public int warmupSteps() { return i("warmup_steps"); }
    public double numTrainEpochs() { return d("num_train_epochs"); }
    public int maxSteps() { return i("max_steps"); }
    public int batchSize() { return i("per_device_train_batch_size"); }
    public int evalBatchSize() { return i("per_device_eval_batch_size"); }
    public int gradientAccumulationSteps() { return i("gradient_accumulation_steps"); }
    public int maxLength() { return i("max_length"); }
    public int maxPromptLength() { return i("max_prompt_length"); }
    public double maxGradNorm() { return d("max_grad_norm"); }
    public double weightDecay() { return d("weight_decay"); }
    public double adamBeta1() { return d("adam_beta1"); }
    public double adamBeta2() { return d("adam_beta2"); }
    public double adamEpsilon() { return d("adam_epsilon"); }
    public long seed() { return i("seed"); }
    public boolean shuffle() { return (Boolean) values.get("shuffle"); }
    public boolean groupByLength() { return (Boolean) values.get("group_by_length"); }
    public int loggingSteps() { return i("logging_steps"); }
    public int evalSteps() { return i("eval_steps"); }
    public int saveSteps() { return i("save_steps"); }
    public int saveTotalLimit() { return i("save_total_limit"); }
    public int maxNonfiniteSteps() { return i("max_nonfinite_steps"); }
    public boolean precomputeRef() { return (Boolean) values.get("precompute_ref_log_probs"); }
    public double evalSplit() { return d("eval_split"); }
    public String modelPath() { return s("model_name_or_path"); }
    public String refModelPath() { return s("ref_model"); }
    /** {@code ref_logps_file}: the reference's log-probs per data row, computed elsewhere (empty: none). */
    public String refLogpsFile() { return s("ref_logps_file"); }
    public String trainFile() { return s("train_file"); }
    public String evalFile() { return s("eval_file"); }
    public String outputDir() { return s("output_dir"); }
    public String device() { return s("device"); }
    public String chatTemplate() { return s("chat_template"); }
    public boolean applyChatTemplate() { return (Boolean) values.get("apply_chat_template"); }
    public boolean usePeft() { return (Boolean) values.get("use_peft"); }
    public int loraR() { return i("lora_r"); }
    public double loraAlpha() { return d("lora_alpha"); }
    public double loraDropout() { return d("lora_dropout"); }
    /** lora_target_modules as a list (empty: the family's default). */
    public List<String> loraTargetModules() {
        List<String> out = new ArrayList<>();
        for (String t : s("lora_target_modules").split(",")) {
            if (!t.isBlank()) {
                out.add(t.trim());
            }
        }
        return out;
    }
    public boolean useRslora() { return (Boolean) values.get("use_rslora"); }
    /** torch_dtype as given: float32, float16, auto or bfloat16. */
    public String torchDtype() { return s("torch_dtype"); }
    public boolean gradientCheckpointing() { return (Boolean) values.get("gradient_checkpointing"); }

    /** The LoRA settings of use_peft and the lora_* keys, or null when use_peft is false. */
    public io.github.align4j.model.LoraConfig lora() {
        return usePeft() ? new io.github.align4j.model.LoraConfig(loraR(), loraAlpha(), loraDropout(), loraTargetModules(),
                useRslora()) : null;
    }

    /** The loss options (label_smoothing, simpo_gamma, desirable/undesirable weights, discopop_tau) set away from their defaults. */
    public Map<String, Double> lossOptions() {
        Map<String, Double> m = new LinkedHashMap<>();
        for (String k : List.of("label_smoothing", "simpo_gamma", "desirable_weight", "undesirable_weight", "discopop_tau")) {
            if (!values.get(k).equals(KEYS.get(k).dflt())) {
                m.put(k, (Double) values.get(k));
            }
        }
        return m;
    }

    /**
     * Everything handed to the loss: the options among label_smoothing, simpo_gamma,
     * desirable_weight and undesirable_weight set away from their defaults, then loss_kwargs.
     */
    public Map<String, Object> allLossOptions() {
        Map<String, Object> m = new LinkedHashMap<>(lossOptions());
        m.putAll(lossKwargs());
        return m;
    }

    /**
     * loss_weights as loss → weight, in order; the one parser of {@code dpo=1,sft=0.5} for train,
     * sweep and the library. Empty when not set.
     */
    public Map<String, Double> lossWeightsMap() {
        Map<String, Double> w = new LinkedHashMap<>();
        if (lossWeights().isBlank()) {
            return w;
        }
        for (String part : lossWeights().split(",")) {
            String[] kv = part.split("=", 2);
            if (kv.length != 2 || kv[0].isBlank()) {
                throw new Align4jException("loss_weights: expected NAME=WEIGHT,... (e.g. dpo=1,sft=0.5), got '" + part + "'");
            }
            double v;
            try {
                v = Double.parseDouble(kv[1].trim());
            } catch (NumberFormatException e) {
                throw new Align4jException("loss_weights: '" + kv[1].trim() + "' is not a number (in '" + part + "')");
            }
            if (w.put(kv[0].trim(), v) != null) {
                throw new Align4jException("loss_weights: '" + kv[0].trim() + "' is given twice; give each loss once");
            }
        }
        return w;
    }

    /**
     * The loss these settings describe: {@code loss_weights} when set, else {@code loss_type}, with
     * {@link #allLossOptions()}; an option the loss does not read is an error that names it.
     */
    public io.github.align4j.loss.PreferenceLoss loss() {
        io.github.align4j.loss.PreferenceLoss loss = lossWeights().isBlank()
                ? io.github.align4j.loss.Losses.create(lossType(), allLossOptions())
                : io.github.align4j.loss.Losses.weighted(lossWeightsMap(), allLossOptions());
        loss = io.github.align4j.loss.FDivergence.wrap(loss,
                io.github.align4j.loss.FDivergence.Type.of(s("f_divergence_type")), d("f_alpha_divergence_coef"));
        return referenceFree() ? io.github.align4j.loss.ReferenceFree.wrap(loss) : loss;
    }

    /** True when a loss key (loss_type, loss_weights, loss options, loss_kwargs) is away from its default. */
    public boolean setsLoss() {
        for (String k : LOSS_KEYS) {
            if (!values.get(k).equals(KEYS.get(k).dflt())) {
                return true;
            }
        }
        return false;
    }

    /** The keys that make the loss. */
    public static final List<String> LOSS_KEYS = List.of("loss_type", "loss_weights", "label_smoothing", "simpo_gamma",
            "desirable_weight", "undesirable_weight", "discopop_tau", "f_divergence_type", "f_alpha_divergence_coef", "reference_free", "loss_kwargs");

    /** A builder starting from the defaults. */
    public static Builder builder() {
        return new Builder(defaults());
    }

    /** A builder starting from these settings. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /**
     * Typed settings: {@code TrainConfig.builder().beta(0.1).learningRate(5e-7).lossType("dpo").build()}.
     * Every value is checked when set (an Align4jException names the key); {@link #build} runs the
     * cross-key checks of {@link #validated}.
     */
    public static final class Builder {
        private TrainConfig c;

        private Builder(TrainConfig c) {
            this.c = c;
        }

        /** Any key by its TRL / handbook name (strings are parsed to the key's type). */
        public Builder set(String key, Object value) {
            c = c.with(key, value, "TrainConfig.Builder.set");
            return this;
        }

        private Builder put(String key, Object value) {
            c = c.with(key, value, "TrainConfig.Builder (" + key + ")");
            return this;
        }

        /** One loss option, added to loss_kwargs (a number, a boolean or text). */
        public Builder lossOption(String name, Object value) {
            Map<String, Object> m = new LinkedHashMap<>(c.lossKwargs());
            m.put(name, value);
            return put("loss_kwargs", m);
        }

        public Builder beta(double v) { return put("beta", v); }
        public Builder lossType(String v) { return put("loss_type", v); }
        public Builder lossWeights(String v) { return put("loss_weights", v); }
        public Builder labelSmoothing(double v) { return put("label_smoothing", v); }
        public Builder simpoGamma(double v) { return put("simpo_gamma", v); }
        public Builder desirableWeight(double v) { return put("desirable_weight", v); }
        public Builder undesirableWeight(double v) { return put("undesirable_weight", v); }
        public Builder discopopTau(double v) { return put("discopop_tau", v); }
        public Builder fDivergenceType(String v) { return put("f_divergence_type", v); }
        public Builder fAlphaDivergenceCoef(double v) { return put("f_alpha_divergence_coef", v); }
        public Builder referenceFree(boolean v) { return put("reference_free", v); }
        public Builder lossKwargs(Map<String, ?> v) { return put("loss_kwargs", v); }
        public Builder useWeighting(boolean v) { return put("use_weighting", v); }
        public Builder ldAlpha(double v) { return put("ld_alpha", v); }
        public Builder syncRefModel(boolean v) { return put("sync_ref_model", v); }
        public Builder refModelMixupAlpha(double v) { return put("ref_model_mixup_alpha", v); }
        public Builder refModelSyncSteps(int v) { return put("ref_model_sync_steps", v); }
        public Builder learningRate(double v) { return put("learning_rate", v); }
        public Builder lrSchedulerType(String v) { return put("lr_scheduler_type", v); }
        public Builder warmupRatio(double v) { return put("warmup_ratio", v); }
        public Builder warmupSteps(int v) { return put("warmup_steps", v); }
        public Builder numTrainEpochs(double v) { return put("num_train_epochs", v); }
        public Builder maxSteps(int v) { return put("max_steps", v); }
        public Builder batchSize(int v) { return put("per_device_train_batch_size", v); }
        public Builder evalBatchSize(int v) { return put("per_device_eval_batch_size", v); }
        public Builder gradientAccumulationSteps(int v) { return put("gradient_accumulation_steps", v); }
        public Builder maxLength(int v) { return put("max_length", v); }
        public Builder maxPromptLength(int v) { return put("max_prompt_length", v); }
        public Builder maxGradNorm(double v) { return put("max_grad_norm", v); }
        public Builder weightDecay(double v) { return put("weight_decay", v); }
        public Builder adamBeta1(double v) { return put("adam_beta1", v); }
        public Builder adamBeta2(double v) { return put("adam_beta2", v); }
        public Builder adamEpsilon(double v) { return put("adam_epsilon", v); }
        public Builder seed(int v) { return put("seed", v); }
        public Builder shuffle(boolean v) { return put("shuffle", v); }
        public Builder groupByLength(boolean v) { return put("group_by_length", v); }
        public Builder loggingSteps(int v) { return put("logging_steps", v); }
        public Builder evalSteps(int v) { return put("eval_steps", v); }
        public Builder saveSteps(int v) { return put("save_steps", v); }
        public Builder saveTotalLimit(int v) { return put("save_total_limit", v); }
        public Builder maxNonfiniteSteps(int v) { return put("max_nonfinite_steps", v); }
        public Builder precomputeRef(boolean v) { return put("precompute_ref_log_probs", v); }
        public Builder evalSplit(double v) { return put("eval_split", v); }
        public Builder modelPath(String v) { return put("model_name_or_path", v); }
        public Builder refModelPath(String v) { return put("ref_model", v); }
        public Builder refLogpsFile(String v) { return put("ref_logps_file", v); }
        public Builder trainFile(String v) { return put("train_file", v); }
        public Builder evalFile(String v) { return put("eval_file", v); }
        public Builder outputDir(String v) { return put("output_dir", v); }
        public Builder device(String v) { return put("device", v); }
        public Builder chatTemplate(String v) { return put("chat_template", v); }
        public Builder applyChatTemplate(boolean v) { return put("apply_chat_template", v); }
        public Builder usePeft(boolean v) { return put("use_peft", v); }
        public Builder loraR(int v) { return put("lora_r", v); }
        public Builder loraAlpha(double v) { return put("lora_alpha", v); }
        public Builder loraDropout(double v) { return put("lora_dropout", v); }
        public Builder loraTargetModules(List<String> v) { return put("lora_target_modules", String.join(",", v)); }
        /** e.g. {@code loraTargetModules("all-linear")} or {@code loraTargetModules("q_proj", "v_proj")}. */
        public Builder loraTargetModules(String... v) { return put("lora_target_modules", String.join(",", v)); }
        public Builder useRslora(boolean v) { return put("use_rslora", v); }
        public Builder torchDtype(String v) { return put("torch_dtype", v); }
        public Builder gradientCheckpointing(boolean v) { return put("gradient_checkpointing", v); }

        /** The settings, cross-checked ({@link #validated}). */
        public TrainConfig build() {
            return c.validated();
        }
    }

    @Override
    public String toString() {
        return values.toString();
    }
}
