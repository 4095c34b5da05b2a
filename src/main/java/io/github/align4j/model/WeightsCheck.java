package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Texts;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks a config.json against the tensors its weights actually hold (names and shapes from the
 * safetensors headers; no data is read) before {@link CausalLM} builds anything, so that a config
 * that does not describe its weights fails at once with the key to fix, instead of building (and
 * allocating for) a model the weights cannot fill.
 *
 * <p>It checks the sizes every tensor depends on: the layer count, vocabulary, hidden size, the
 * attention projections (heads × head_dim, KV heads), the MLP's inner size and GPT-2's learned
 * positions. Everything else (biases, norms, the head) is checked tensor by tensor while loading.
 * After training, {@link #firstNonFinite} finds a weight that has become NaN or infinite, and
 * {@link #nonFiniteOutput} words the error for a model whose outputs are.
 */
final class WeightsCheck {
    private static final Pattern LAYER = Pattern.compile("^(?:model\\.layers|transformer\\.h|h)\\.(\\d{1,9})\\.");

    private WeightsCheck() {}

    /**
     * @param c the parsed config
     * @param ck the opened checkpoint (headers only)
     * @param configFile names config.json in messages
     * @throws Align4jException naming config.json, the key and the tensor that disagree
     */
    static void check(ModelConfig c, SafeTensors.Checkpoint ck, Path configFile) {
        boolean gpt2 = c.isGpt2();
        String layersKey = gpt2 ? "n_layer" : "num_hidden_layers";
        String hiddenKey = gpt2 ? "n_embd" : "hidden_size";
        BitSet seen = new BitSet();
        for (String name : ck.names()) {
            Matcher m = LAYER.matcher(name);
            if (m.find()) {
                int i = Integer.parseInt(m.group(1));
                if (i >= ModelConfig.MAX_LAYERS) {
                    throw mismatch(configFile, layersKey, c.numLayers(), ck, "holds tensor '" + name
                            + "', of a layer beyond align4j's limit of " + ModelConfig.MAX_LAYERS + " layers");
                }
                seen.set(i);
            }
        }
        int fileLayers = seen.cardinality();
        if (fileLayers != c.numLayers() || (fileLayers > 0 && seen.length() != fileLayers)) {
            String held = fileLayers == 0 ? "no decoder layers"
                    : seen.length() == fileLayers ? fileLayers + " layers (0 to " + (fileLayers - 1) + ")"
                    : fileLayers + " layers with gaps (numbers " + seen + ")";
            throw mismatch(configFile, layersKey, c.numLayers(), ck, "holds " + held);
        }
        String base = gpt2 ? gpt2Base(ck) : "model.";
        long e = c.hiddenSize();
        long[] embed = shape(ck, base + (gpt2 ? "wte.weight" : "embed_tokens.weight"));
        if (embed != null && embed.length == 2) {
            expect(configFile, "vocab_size", c.vocabSize(), embed[0], ck, embed, base + (gpt2 ? "wte" : "embed_tokens"));
            expect(configFile, hiddenKey, e, embed[1], ck, embed, base + (gpt2 ? "wte" : "embed_tokens"));
        }
        if (gpt2) {
            String l0 = base + "h.0.";
            long[] wpe = shape(ck, base + "wpe.weight");
            if (wpe != null && wpe.length == 2) {
                expect(configFile, "n_positions", c.maxPositions(), wpe[0], ck, wpe, base + "wpe");
            }
            long[] attn = shape(ck, l0 + "attn.c_attn.weight");
            if (attn != null && attn.length == 2) {
                expect(configFile, "n_embd", e, attn[0], ck, attn, l0 + "attn.c_attn");
            }
            long[] fc = shape(ck, l0 + "mlp.c_fc.weight");
            if (fc != null && fc.length == 2) {
                expect(configFile, "n_inner", c.intermediateSize(), fc[1], ck, fc, l0 + "mlp.c_fc");
            }
        } else {
            String l0 = "model.layers.0.";
            long d = c.headDim();
            String headsKey = c.json().hasNonNull("head_dim") ? "num_attention_heads' or 'head_dim" : "num_attention_heads";
            long[] q = shape(ck, l0 + "self_attn.q_proj.weight");
            if (q != null && q.length == 2) {
                expect(configFile, hiddenKey, e, q[1], ck, q, l0 + "self_attn.q_proj");
                expect(configFile, headsKey, (long) c.numHeads() * d, q[0], ck, q, l0 + "self_attn.q_proj");
            }
            long[] k = shape(ck, l0 + "self_attn.k_proj.weight");
            if (k != null && k.length == 2) {
                expect(configFile, "num_key_value_heads", (long) c.numKvHeads() * d, k[0], ck, k, l0 + "self_attn.k_proj");
            }
            long[] gate = shape(ck, l0 + "mlp.gate_proj.weight");
            if (gate != null && gate.length == 2) {
                expect(configFile, "intermediate_size", c.intermediateSize(), gate[0], ck, gate, l0 + "mlp.gate_proj");
            }
        }
    }

    /** GPT-2 files from the hub carry no {@code transformer.} prefix. */
    private static String gpt2Base(SafeTensors.Checkpoint ck) {
        return ck.contains("transformer.wte.weight") || !ck.contains("wte.weight") ? "transformer." : "";
    }

    private static long[] shape(SafeTensors.Checkpoint ck, String name) {
        return ck.shapeOf(name);
    }

    /** The weight file, or the first shard and the count. */
    private static String where(SafeTensors.Checkpoint ck) {
        int n = ck.files().size();
        return ck.files().get(0) + (n > 1 ? " and " + (n - 1) + " more shards" : "");
    }

    private static void expect(Path configFile, String key, long configValue, long actual, SafeTensors.Checkpoint ck,
            long[] shape, String tensor) {
        if (configValue != actual) {
            throw new Align4jException(configFile + ": key '" + key + "' implies " + configValue + " where the weights' tensor '"
                    + tensor + ".weight' has " + actual + " (shape " + Arrays.toString(shape) + " in " + where(ck)
                    + "). config.json does not describe these weights: fix the key or use the config.json that came with them.");
        }
    }

    private static Align4jException mismatch(Path configFile, String key, int configValue, SafeTensors.Checkpoint ck, String what) {
        return new Align4jException(configFile + ": key '" + key + "' is " + configValue + " but the weights ("
                + where(ck) + ") " + what + ". config.json does not describe these weights: fix "
                + key + " or use the config.json that came with them.");
    }

    /**
     * {@link CausalLM#firstNonFiniteWeight()}: the name of the first of {@code weights} holding NaN or
     * infinity, or null, from one {@code sum(w · 0)} a weight on its device.
     */
    static String firstNonFinite(Map<String, Parameter> weights) {
        for (Map.Entry<String, Parameter> e : weights.entrySet()) {
            NDArray a = e.getValue().getArray();
            NDArray zeros = a.mul(0f);
            NDArray sum = zeros.sum();
            NDArray wide = sum.toType(DataType.FLOAT32, false);
            float v = wide.getFloat();
            if (wide != sum) {
                wide.close();
            }
            sum.close();
            zeros.close();
            if (!Float.isFinite(v)) {
                return e.getKey();
            }
        }
        return null;
    }

    /** {@link CausalLM#nonFiniteOutput}: the error naming the model's folder (and the adapter's), or "the model". */
    static Align4jException nonFiniteOutput(Path source, Path adapterSource, String what) {
        String name = (source == null ? "the model" : "the model " + Texts.printable(source.toString()))
                + (adapterSource == null ? "" : " with the adapter " + Texts.printable(adapterSource.toString()));
        return new Align4jException(name + ": its weights give non-finite " + what + " (NaN or infinity), so no result "
                + "is reported. The weights are damaged or too large (a diverged training run?): use another checkpoint"
                + (adapterSource == null ? "" : " or adapter") + ".");
    }
}
