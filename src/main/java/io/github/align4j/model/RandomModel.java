package io.github.align4j.model;

import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.TinyTokenizer;
import io.github.align4j.model.internal.ModelDtypes;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes randomly initialised checkpoints ({@link CausalLM#init(String, Map, Path, Path, long)}):
 * the config.json defaults of a tiny model of each supported type, overridden by the caller's keys,
 * sized to the tokenizer.
 */
final class RandomModel {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RandomModel() {}

    /**
     * Writes a random checkpoint of {@code type} into {@code out} (created if needed) with the
     * tokenizer files of {@code tokDir} (null: the built-in {@link TinyTokenizer}).
     *
     * @param keys config.json keys that override the defaults (JSON-like values), or null
     * @param source names the keys' origin in error messages
     */
    static CausalLM.Written create(String type, Map<String, ?> keys, String source, Path tokDir, Path out, long seed,
            java.util.function.BiConsumer<Long, Long> progress) {
        ObjectNode user = (ObjectNode) JSON.valueToTree(keys == null ? Map.of() : keys);
        if (type == null) {
            JsonNode t = user.get("model_type");
            if (t == null || t.isNull()) {
                throw new Align4jException(source + ": key 'model_type' is missing; add it or give the model type");
            }
            type = t.isTextual() ? t.asText() : t.toString();
        }
        String resolved = type.trim().toLowerCase(Locale.ROOT);
        if (!ModelConfig.SUPPORTED.contains(resolved)) {
            throw new Align4jException("model type '" + type + "': expected one of llama, mistral, qwen2, gpt2");
        }
        Path tmp = null;
        try {
            if (tokDir == null) {
                tmp = Files.createTempDirectory("align4j-tokenizer");
                tokDir = TinyTokenizer.writeTo(tmp);
            } else if (!Files.isRegularFile(tokDir.resolve("tokenizer.json"))) {
                throw new Align4jException(tokDir + ": no tokenizer.json here; give a Hugging Face tokenizer folder");
            }
            return write(resolved, user, source, tokDir, out, seed, progress);
        } catch (IOException e) {
            throw new Align4jException(out + ": cannot write the model: " + e, e);
        } finally {
            io.github.align4j.internal.FileTrees.deleteTree(tmp);
        }
    }

    private static CausalLM.Written write(String type, ObjectNode user, String source, Path tokDir, Path out, long seed,
            java.util.function.BiConsumer<Long, Long> progress)
            throws IOException {
        ModelWriter.checkTokenizerFiles(tokDir); // tokenizer.json among them: nothing is written before this
        int tokenizerSize = tokenizerSize(tokDir.resolve("tokenizer.json"));
        Integer bos;
        Integer eos;
        try (TextTokenizer tok = TextTokenizer.load(tokDir, null)) {
            bos = tok.bosId();
            eos = tok.eosId();
        }
        ObjectNode json = withDefaults(type, user, tokenizerSize, bos, eos);
        JsonNode v = json.path("vocab_size");
        if (v.isIntegralNumber() && v.asInt() < tokenizerSize) {
            throw new Align4jException(source + ": key 'vocab_size' is " + v.asInt() + " but the tokenizer in " + tokDir
                    + " has " + tokenizerSize + " tokens; remove the key to use the tokenizer's size or raise it.");
        }
        SafeTensors.DType dtype = storedType(json.get("torch_dtype"), source);
        ModelConfig cfg = ModelConfig.parse(json, source);
        Map<String, Shape> shapes = ModelWriter.tensorShapes(cfg);
        long count = 0;
        long largest = 0;
        for (Map.Entry<String, Shape> e : shapes.entrySet()) {
            long n = e.getValue().size();
            if (n < 0 || n > Integer.MAX_VALUE / 4) {
                throw new Align4jException(source + ": tensor '" + e.getKey() + "' would have shape " + e.getValue()
                        + ", over 2 GiB as float32 (align4j's limit for one tensor); lower vocab_size or the hidden size");
            }
            count += n;
            largest = Math.max(largest, n);
        }
        Files.createDirectories(out);
        long bytes = count * dtype.bytes;
        long free = Files.getFileStore(out).getUsableSpace();
        if (bytes > free) {
            throw new Align4jException(String.format(Locale.ROOT, "%s: the model would have %,d parameters (%.1f GiB as "
                    + "%s) but %s has %.1f GiB of free disk space; make it smaller or write it elsewhere", source, count,
                    bytes / (double) (1L << 30), dtype, out, free / (double) (1L << 30)));
        }
        // One float32 buffer for the largest tensor, refilled for each: the writer consumes a tensor before asking
        // for the next, so memory stays at one tensor however large the model.
        ByteBuffer buf = ByteBuffer.allocateDirect((int) largest * 4).order(ByteOrder.LITTLE_ENDIAN);
        List<SafeTensors.Entry> entries = new ArrayList<>();
        RandomWeights draws = new RandomWeights(seed); // the writer asks for the tensors once each, in this order
        long[] drawn = {0};
        final long all = count;
        for (Map.Entry<String, Shape> e : shapes.entrySet()) {
            String name = e.getKey();
            long n = e.getValue().size();
            entries.add(new SafeTensors.Entry(name, e.getValue().getShape(), () -> {
                draws.fill(name, n, buf.clear().asFloatBuffer());
                drawn[0] += n;
                if (progress != null) {
                    progress.accept(drawn[0], all);
                }
                return buf.clear().limit((int) n * 4);
            }));
        }
        SafeTensors.write(out, entries, dtype, 5_000_000_000L);
        ModelWriter.writeConfigAndTokenizer(out, cfg, dtype, tokDir);
        return new CausalLM.Written(out, cfg, count);
    }

    /**
     * The type the weights are written in: config key {@code torch_dtype} float32 (or absent),
     * float16 or bfloat16 (as real checkpoints such as Zephyr ship).
     */
    static SafeTensors.DType storedType(JsonNode v, String source) {
        if (v == null || v.isNull()) {
            return SafeTensors.DType.F32;
        }
        SafeTensors.DType t = v.isTextual() ? ModelDtypes.fileType(v.asText()) : null;
        if (t == null) {
            throw new Align4jException(source + ": key 'torch_dtype' is " + v + "; a random model is written as "
                    + "float32, float16 or bfloat16");
        }
        return t;
    }

    /**
     * The tokenizer's vocabulary size: one more than the largest id in {@code model.vocab} and
     * {@code added_tokens} of tokenizer.json (a Unigram vocabulary is a list: its length).
     */
    static int tokenizerSize(Path tokenizerJson) {
        JsonNode n;
        try {
            n = JSON.readTree(tokenizerJson.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new Align4jException(io.github.align4j.internal.Texts.jsonError(tokenizerJson + ": not valid JSON", e), e);
        } catch (IOException e) {
            throw new Align4jException(tokenizerJson + ": cannot read: " + io.github.align4j.internal.Texts.firstLine(String.valueOf(e.getMessage())), e);
        }
        int size = 0;
        JsonNode vocab = n.path("model").path("vocab");
        if (vocab.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode id = e.getValue();
                if (!id.isIntegralNumber() || !id.canConvertToLong() || id.asLong() < 0 || id.asLong() >= ModelConfig.MAX_VOCAB) {
                    throw new Align4jException(tokenizerJson + ": token " + JSON.valueToTree(e.getKey()) + " in model.vocab has id "
                            + id + "; ids must be integers from 0 to " + (ModelConfig.MAX_VOCAB - 1) + " (align4j's "
                            + "vocabulary limit). Fix the id or use another tokenizer.");
                }
                size = Math.max(size, id.asInt() + 1);
            }
        } else if (vocab.isArray()) {
            size = vocab.size();
        } else {
            throw new Align4jException(tokenizerJson + ": key 'model.vocab' is missing; is this a Hugging Face tokenizer.json?");
        }
        for (JsonNode a : n.path("added_tokens")) {
            JsonNode id = a.path("id");
            if (!id.isIntegralNumber() || !id.canConvertToLong() || id.asLong() < 0 || id.asLong() >= ModelConfig.MAX_VOCAB) {
                throw new Align4jException(tokenizerJson + ": added token " + a.path("content") + " has id " + id
                        + "; ids must be integers from 0 to " + (ModelConfig.MAX_VOCAB - 1) + " (align4j's vocabulary "
                        + "limit). Fix the id in added_tokens or use another tokenizer.");
            }
            size = Math.max(size, id.asInt() + 1);
        }
        return size;
    }

    /**
     * The user's keys over these defaults (a key the user gives always wins; {@code model_type}
     * is the resolved type):
     *
     * <ul>
     *   <li>all: {@code vocab_size} = the tokenizer's size; {@code bos_token_id}/{@code eos_token_id}
     *       = the tokenizer's bos/eos (null when it has none); {@code num_attention_heads} (gpt2:
     *       {@code n_head}) = hidden / 64 when the hidden size is a multiple of 64 and at least
     *       128, else 4; {@code initializer_range} 0.02.
     *   <li>llama, mistral, qwen2: {@code hidden_size} 64, {@code intermediate_size} 4 × hidden,
     *       {@code num_hidden_layers} 2, {@code num_key_value_heads} = heads,
     *       {@code max_position_embeddings} 2048, {@code rms_norm_eps} 1e-6, {@code rope_theta}
     *       10000, {@code hidden_act} silu, {@code tie_word_embeddings} false; mistral
     *       {@code sliding_window} 4096; qwen2 {@code use_sliding_window} false.
     *   <li>gpt2: {@code n_embd} 64, {@code n_layer} 2, {@code n_positions} 1024,
     *       {@code n_inner} null (4 × n_embd), {@code activation_function} gelu_new,
     *       {@code layer_norm_epsilon} 1e-5, {@code tie_word_embeddings} true.
     * </ul>
     */
    static ObjectNode withDefaults(String type, ObjectNode user, int tokenizerSize, Integer bos, Integer eos) {
        ObjectNode n = JSON.createObjectNode();
        n.put("model_type", type);
        boolean gpt2 = type.equals("gpt2");
        n.putArray("architectures").add(switch (type) {
            case "gpt2" -> "GPT2LMHeadModel";
            case "mistral" -> "MistralForCausalLM";
            case "qwen2" -> "Qwen2ForCausalLM";
            default -> "LlamaForCausalLM";
        });
        n.put("vocab_size", tokenizerSize);
        String hiddenKey = gpt2 ? "n_embd" : "hidden_size";
        String headsKey = gpt2 ? "n_head" : "num_attention_heads";
        JsonNode h = user.get(hiddenKey);
        int hidden = h != null && h.isIntegralNumber() && h.asInt() > 0 ? h.asInt() : 64;
        int heads = hidden >= 128 && hidden % 64 == 0 ? hidden / 64 : 4;
        JsonNode hd = user.get(headsKey);
        int userHeads = hd != null && hd.isIntegralNumber() && hd.asInt() > 0 ? hd.asInt() : heads;
        if (gpt2) {
            n.put("n_embd", hidden);
            n.put("n_layer", 2);
            n.put("n_head", heads);
            n.put("n_positions", 1024);
            n.putNull("n_inner");
            n.put("activation_function", "gelu_new");
            n.put("layer_norm_epsilon", 1e-5);
            n.put("tie_word_embeddings", true);
        } else {
            n.put("hidden_size", hidden);
            n.put("intermediate_size", 4 * hidden);
            n.put("num_hidden_layers", 2);
            n.put("num_attention_heads", heads);
            n.put("num_key_value_heads", userHeads);
            n.put("max_position_embeddings", 2048);
            n.put("rms_norm_eps", 1e-6);
            n.put("rope_theta", 10000.0);
            n.put("hidden_act", "silu");
            n.put("tie_word_embeddings", false);
            if (type.equals("mistral")) {
                n.put("sliding_window", 4096);
            } else if (type.equals("qwen2")) {
                n.put("use_sliding_window", false);
            }
        }
        n.put("initializer_range", 0.02);
        if (bos != null) {
            n.put("bos_token_id", bos);
        } else {
            n.putNull("bos_token_id");
        }
        if (eos != null) {
            n.put("eos_token_id", eos);
        } else {
            n.putNull("eos_token_id");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = user.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getKey().equals("model_type")) {
                n.set(e.getKey(), e.getValue());
            }
        }
        return n;
    }
}
