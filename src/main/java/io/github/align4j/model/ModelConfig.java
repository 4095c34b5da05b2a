package io.github.align4j.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.github.align4j.internal.FolderFiles;
import io.github.align4j.internal.Texts;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * A decoder-only transformer's shape, read from a Hugging Face {@code config.json}.
 *
 * <p>{@code llama}, {@code mistral} and {@code qwen2} share one pre-norm decoder (RMSNorm, rotary
 * positions, grouped-query attention, SwiGLU MLP); {@code gpt2} uses LayerNorm with bias, learned
 * positions, fused Conv1D attention and a gelu_new MLP. A key whose value we do not implement is an
 * error that names it, never a silent approximation.
 *
 * @param modelType llama, mistral, qwen2 or gpt2
 * @param vocabSize V
 * @param hiddenSize E
 * @param intermediateSize the MLP's inner size
 * @param numLayers L
 * @param numHeads H query heads
 * @param numKvHeads KV heads (GQA when fewer than H)
 * @param headDim D per head (E / H unless {@code head_dim} says otherwise)
 * @param ropeTheta rotary base
 * @param rope rotary scaling ({@code rope_scaling}), or null
 * @param normEps RMSNorm / LayerNorm epsilon
 * @param tieWordEmbeddings the head reuses the token embedding (no {@code lm_head.weight} in the file)
 * @param qkvBias biases on q/k/v projections (Qwen2, Llama's {@code attention_bias})
 * @param outputBias bias on the attention output projection (Llama's {@code attention_bias})
 * @param mlpBias biases in the MLP (Llama's {@code mlp_bias})
 * @param slidingWindow attention window (Mistral; Qwen2 when {@code use_sliding_window}), 0 = none
 * @param slidingFromLayer first layer that uses the window (Qwen2's {@code max_window_layers})
 * @param maxPositions {@code max_position_embeddings} / {@code n_positions}
 * @param bosTokenId may be null
 * @param eosTokenId may be null
 * @param json the original config, written back verbatim by {@code save}
 */
public record ModelConfig(
        String modelType,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        double ropeTheta,
        RopeScaling rope,
        double normEps,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean outputBias,
        boolean mlpBias,
        int slidingWindow,
        int slidingFromLayer,
        int maxPositions,
        Integer bosTokenId,
        Integer eosTokenId,
        ObjectNode json) {

    /** The model types this build implements. */
    public static final Set<String> SUPPORTED = Set.of("llama", "mistral", "qwen2", "gpt2");

    private static final ObjectMapper MAPPER = new ObjectMapper();

    /*
     * Sane bounds, checked before anything is built: a config.json comes from the internet, and a
     * value such as num_hidden_layers: 1000000 must fail at once rather than build a million layers.
     * Each is far above the largest released model (in brackets) and still small enough that the
     * shape arithmetic cannot overflow. The weights then pin every size exactly ({@link CausalLM#load}).
     */
    /** Most layers (Llama 3.1 405B: 126). */
    public static final int MAX_LAYERS = 1024;
    /** Most attention heads (128). */
    public static final int MAX_HEADS = 1024;
    /** Largest hidden size (16384). */
    public static final int MAX_HIDDEN = 131_072;
    /** Largest head_dim (256). */
    public static final int MAX_HEAD_DIM = 4096;
    /** Largest MLP inner size (53248). */
    public static final int MAX_INTERMEDIATE = 1_048_576;
    /** Largest vocabulary (262144). */
    public static final int MAX_VOCAB = 16_777_216;
    /** Largest max_position_embeddings / n_positions (Llama 4 Scout: 10485760). */
    public static final int MAX_POSITIONS = 16_777_216;

    /** Rotary scaling: {@code linear} (position interpolation) or {@code llama3} (frequency-dependent). */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {}

    /** True for GPT-2's architecture, false for the Llama family. */
    public boolean isGpt2() {
        return "gpt2".equals(modelType);
    }

    /** Reads and validates {@code dir/config.json}. */
    public static ModelConfig load(Path dir) {
        Path file = Files.isDirectory(dir) ? FolderFiles.inside(dir, dir.resolve("config.json"), "model folder") : dir;
        if (!Files.isRegularFile(file)) {
            throw new Align4jException(file + ": not found. A Hugging Face model folder holds config.json, "
                    + "model.safetensors (or shards with model.safetensors.index.json) and tokenizer.json.");
        }
        JsonNode n;
        try {
            n = MAPPER.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new Align4jException(Texts.jsonError(file + ": not valid JSON", e), e);
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (n == null || !n.isObject()) {
            throw new Align4jException(file + ": expected a JSON object");
        }
        return parse((ObjectNode) n, file.toString());
    }

    /** Validates a parsed config; {@code source} names it in error messages. */
    public static ModelConfig parse(ObjectNode n, String source) {
        Reader r = new Reader(n, source);
        String type = r.str("model_type", null);
        if (type == null) {
            throw new Align4jException(source + ": key 'model_type' is missing; expected one of " + SUPPORTED);
        }
        if (!SUPPORTED.contains(type)) {
            throw new Align4jException(source + ": model_type '" + type + "' is not supported; align4j implements "
                    + SUPPORTED + ". Convert the checkpoint or open an issue.");
        }
        return "gpt2".equals(type) ? gpt2(r, n) : llama(r, n, type);
    }

    private static ModelConfig llama(Reader r, ObjectNode n, String type) {
        int e = r.positive("hidden_size", MAX_HIDDEN);
        int heads = r.positive("num_attention_heads", MAX_HEADS);
        int kv = r.intOr("num_key_value_heads", heads);
        if (kv <= 0 || heads % kv != 0) {
            throw r.error("num_key_value_heads", "must divide num_attention_heads (" + heads + "), got " + kv);
        }
        int headDim = n.hasNonNull("head_dim") ? r.positive("head_dim", MAX_HEAD_DIM) : 0;
        if (headDim == 0) {
            if (e % heads != 0) {
                throw r.error("hidden_size", "must be divisible by num_attention_heads when head_dim is not set");
            }
            headDim = e / heads;
        }
        if (headDim % 2 != 0) {
            throw r.error("head_dim", "must be even for rotary embeddings, got " + headDim);
        }
        String act = r.str("hidden_act", "silu");
        if (!act.equals("silu") && !act.equals("swish")) {
            throw r.error("hidden_act", "'" + act + "' is not implemented for " + type + "; only silu");
        }
        r.forbidTrue("qk_norm");
        double partial = r.number("partial_rotary_factor", 1.0);
        if (partial != 1.0) {
            throw r.error("partial_rotary_factor", "only 1.0 is implemented");
        }
        boolean qwen = type.equals("qwen2");
        boolean attnBias = r.bool("attention_bias", false);
        int window = 0;
        int windowFrom = 0;
        if (type.equals("mistral")) {
            window = r.intOr("sliding_window", 0);
        } else if (qwen && r.bool("use_sliding_window", false)) {
            window = r.intOr("sliding_window", 0);
            windowFrom = r.intOr("max_window_layers", 0);
        }
        int layers = r.positive("num_hidden_layers", MAX_LAYERS);
        double theta = r.number("rope_theta", 10000.0);
        if (!(theta > 0)) {
            throw r.error("rope_theta", "must be a positive number, got " + theta);
        }
        double eps = r.number("rms_norm_eps", 1e-6);
        if (!(eps >= 0)) {
            throw r.error("rms_norm_eps", "must not be negative, got " + eps);
        }
        return new ModelConfig(type, r.positive("vocab_size", MAX_VOCAB), e, r.positive("intermediate_size", MAX_INTERMEDIATE),
                layers, heads, kv, headDim, theta, rope(r, n), eps,
                r.bool("tie_word_embeddings", false), qwen || attnBias, attnBias, r.bool("mlp_bias", false),
                Math.max(window, 0), windowFrom, r.positiveOr("max_position_embeddings", 2048, MAX_POSITIONS),
                r.intOrNull("bos_token_id"), r.intOrNull("eos_token_id"), n);
    }

    private static RopeScaling rope(Reader r, ObjectNode n) {
        JsonNode s = n.get("rope_scaling");
        if (s == null || s.isNull()) {
            return null;
        }
        if (!s.isObject()) {
            throw r.error("rope_scaling", "expected an object");
        }
        Reader sr = r.nested("rope_scaling", (ObjectNode) s);
        String type = s.has("rope_type") ? sr.str("rope_type", "") : sr.str("type", "");
        double factor = sr.number("factor", 1.0);
        switch (type) {
            case "default":
                return null;
            case "linear":
                if (!(factor > 0)) {
                    throw r.error("rope_scaling.factor", "must be > 0");
                }
                return new RopeScaling("linear", factor, 0, 0, 0);
            case "llama3":
                for (String k : new String[] {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
                    if (!s.has(k)) {
                        throw r.error("rope_scaling." + k, "is required for rope_type llama3");
                    }
                }
                double low = sr.number("low_freq_factor", 0);
                double high = sr.number("high_freq_factor", 0);
                if (!(factor > 0) || !(low > 0) || !(high > low)) {
                    throw r.error("rope_scaling", "for llama3 needs factor > 0 and 0 < low_freq_factor < high_freq_factor, got "
                            + "factor " + factor + ", low_freq_factor " + low + ", high_freq_factor " + high);
                }
                return new RopeScaling("llama3", factor, low, high,
                        sr.positive("original_max_position_embeddings", MAX_POSITIONS));
            default:
                throw r.error("rope_scaling.rope_type", "'" + type + "' is not implemented; align4j implements linear and llama3");
        }
    }

    private static ModelConfig gpt2(Reader r, ObjectNode n) {
        int e = r.positive("n_embd", MAX_HIDDEN);
        int heads = r.positive("n_head", MAX_HEADS);
        if (e % heads != 0) {
            throw r.error("n_embd", "must be divisible by n_head");
        }
        String act = r.str("activation_function", "gelu_new");
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
            throw r.error("activation_function", "'" + act + "' is not implemented for gpt2; only gelu_new");
        }
        r.forbidTrue("scale_attn_by_inverse_layer_idx");
        r.forbidTrue("add_cross_attention");
        if (!r.bool("scale_attn_weights", true)) {
            throw r.error("scale_attn_weights", "false is not implemented");
        }
        int inner = n.hasNonNull("n_inner") ? r.positive("n_inner", MAX_INTERMEDIATE) : 4 * e;
        double eps = r.number("layer_norm_epsilon", 1e-5);
        if (!(eps >= 0)) {
            throw r.error("layer_norm_epsilon", "must not be negative, got " + eps);
        }
        return new ModelConfig("gpt2", r.positive("vocab_size", MAX_VOCAB), e, inner, r.positive("n_layer", MAX_LAYERS),
                heads, heads, e / heads, 0, null, eps, r.bool("tie_word_embeddings", true),
                true, true, true, 0, 0, r.positiveOr("n_positions", 1024, MAX_POSITIONS),
                r.intOrNull("bos_token_id"), r.intOrNull("eos_token_id"), n);
    }

    /** Typed access to config keys with messages that name the key. */
    private static final class Reader {
        private final ObjectNode n;
        private final String source;

        private final String prefix;

        Reader(ObjectNode n, String source) {
            this(n, source, "");
        }

        private Reader(ObjectNode n, String source, String prefix) {
            this.n = n;
            this.source = source;
            this.prefix = prefix;
        }

        /** A reader of the object under {@code key}, whose messages name {@code key.sub}. */
        Reader nested(String key, ObjectNode sub) {
            return new Reader(sub, source, prefix + key + ".");
        }

        Align4jException error(String key, String what) {
            return new Align4jException(source + ": key '" + prefix + key + "' " + what);
        }

        /** A finite JSON number, or {@code dflt} when the key is absent or null. */
        double number(String key, double dflt) {
            JsonNode v = n.get(key);
            if (v == null || v.isNull()) {
                return dflt;
            }
            if (!v.isNumber() || !Double.isFinite(v.asDouble())) {
                throw error(key, "must be a finite number, got " + v);
            }
            return v.asDouble();
        }

        String str(String key, String dflt) {
            JsonNode v = n.get(key);
            if (v == null || v.isNull()) {
                return dflt;
            }
            if (!v.isTextual()) {
                throw error(key, "must be a string, got " + v);
            }
            return v.asText();
        }

        /** A required integer in [1, max]. */
        int positive(String key, int max) {
            JsonNode v = n.get(key);
            if (v == null || v.isNull()) {
                throw error(key, "is missing");
            }
            if (!v.isIntegralNumber() || (v.canConvertToLong() && v.asLong() <= 0)) {
                throw error(key, "must be a positive integer, got " + v);
            }
            if (!v.canConvertToLong()) {
                throw error(key, "is " + v + ", out of range [1, " + max + "]");
            }
            if (v.asLong() > max) {
                throw error(key, "is " + v + ", above align4j's limit of " + max + " (far beyond any released "
                        + "model); the file is damaged or not a real model's config. Fix the value or use the "
                        + "config.json that came with the weights.");
            }
            return v.asInt();
        }

        /** An optional integer in [1, max]. */
        int positiveOr(String key, int dflt, int max) {
            JsonNode v = n.get(key);
            return v == null || v.isNull() ? dflt : positive(key, max);
        }

        int intOr(String key, int dflt) {
            JsonNode v = n.get(key);
            if (v == null || v.isNull()) {
                return dflt;
            }
            if (!v.isIntegralNumber()) {
                throw error(key, "must be an integer, got " + v);
            }
            if (!v.canConvertToInt()) {
                throw error(key, "is " + v + ", out of range [" + Integer.MIN_VALUE + ", " + Integer.MAX_VALUE + "]");
            }
            return v.asInt();
        }

        Integer intOrNull(String key) {
            JsonNode v = n.get(key);
            if (v == null || v.isNull()) {
                return null;
            }
            if (v.isArray()) { // eos_token_id may be a list: the first is the one appended
                if (v.size() == 0) {
                    return null;
                }
                v = v.get(0);
            }
            if (!v.isIntegralNumber() || (v.canConvertToInt() && v.asInt() < 0)) {
                throw error(key, "must be a token id (a non-negative integer) or a list of them, got " + n.get(key));
            }
            if (!v.canConvertToInt()) {
                throw error(key, "is " + v + ", out of range [0, " + Integer.MAX_VALUE + "] for a token id");
            }
            return v.asInt();
        }

        boolean bool(String key, boolean dflt) {
            JsonNode v = n.get(key);
            if (v == null || v.isNull()) {
                return dflt;
            }
            if (!v.isBoolean()) {
                throw error(key, "must be true or false, got " + v);
            }
            return v.asBoolean();
        }

        void forbidTrue(String key) {
            if (bool(key, false)) {
                throw error(key, "= true is not implemented by align4j");
            }
        }
    }
}
