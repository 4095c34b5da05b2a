package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;

/**
 * The causal language model: token embedding (+ learned positions for GPT-2) → L decoder layers →
 * final norm → head. Tensor names follow Hugging Face: {@code model.*} and {@code lm_head.weight}
 * for the Llama family, {@code transformer.*} for GPT-2.
 */
final class Decoder extends Layer {
    final ModelConfig config;
    private final Parameter embed;
    private final Parameter positions;
    private final DecoderLayer[] layers;
    private final Norm finalNorm;
    private final Parameter head;
    private final Rope rope;
    private final Pass.Masks masks;

    Decoder(ModelConfig c, Registry r, NDManager manager) {
        super("", r);
        this.config = c;
        String base = c.isGpt2() ? "transformer." : "model.";
        embed = param(base + (c.isGpt2() ? "wte.weight" : "embed_tokens.weight"), c.vocabSize(), c.hiddenSize());
        positions = c.isGpt2() ? param(base + "wpe.weight", c.maxPositions(), c.hiddenSize()) : null;
        layers = new DecoderLayer[c.numLayers()];
        for (int i = 0; i < layers.length; i++) {
            String prefix = base + (c.isGpt2() ? "h." : "layers.") + i + ".";
            layers[i] = child("layer" + i, new DecoderLayer(prefix, r, c, i));
        }
        finalNorm = child("norm", new Norm(base + (c.isGpt2() ? "ln_f." : "norm."), r, c.hiddenSize(), c.normEps(), c.isGpt2()));
        head = c.tieWordEmbeddings() ? embed : param("lm_head.weight", c.vocabSize(), c.hiddenSize());
        rope = c.isGpt2() ? null : new Rope(c, manager);
        masks = new Pass.Masks(manager);
    }

    /**
     * Hidden states after the final norm.
     *
     * @param ids [B, T] int64 token ids, right-padded; positions start at 0 in every row
     *     (at {@code cache.length()} when a KV cache is given)
     * @param cache earlier keys and values, extended in place; null for a full pass
     * @return [B, T, E]
     */
    NDArray hidden(NDArray ids, KvCache cache) {
        long b = ids.getShape().get(0);
        long t = ids.getShape().get(1);
        long offset = cache == null ? 0 : cache.length;
        if (positions != null && offset + t > config.maxPositions()) {
            throw new io.github.align4j.Align4jException("sequence of " + (offset + t) + " tokens is longer than the model's "
                    + "n_positions (" + config.maxPositions() + "); lower max_length");
        }
        Pass p = new Pass(ids.getManager(), b, t, offset, rope, masks, cache);
        NDArray x = Ops.rows(ids, w(embed)); // [B, T, E]
        if (positions != null) {
            NDArray range = ids.getManager().arange((int) offset, (int) (offset + t));
            NDArray pos = range.toType(ai.djl.ndarray.types.DataType.INT64, false);
            NDArray pe = Ops.rows(pos, w(positions));
            x.addi(pe); // [T, E] broadcast over B, in place (the lookup's backward does not need its output)
            Ops.free(range, pos, pe);
        }
        for (DecoderLayer layer : layers) {
            NDArray next = layer.forward(x, p);
            Ops.free(x);
            x = next;
        }
        if (cache != null) {
            cache.length += t;
        }
        NDArray out = finalNorm.forward(x);
        Ops.free(x);
        return out;
    }

    /** Logits of hidden states: h·W_headᵀ, [..., E] → [..., V]. */
    NDArray logits(NDArray hidden) {
        return Ops.linear(hidden, w(head), null);
    }
}
