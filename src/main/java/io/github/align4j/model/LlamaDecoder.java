package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;

/**
 * Llama, Mistral and Qwen2 (transformers' {@code LlamaForCausalLM}):
 * <pre>
 *   x₀     = E[ids]                                model.embed_tokens.weight [V, E]
 *   x_l+1  = layer_l(x_l, rope(positions))          model.layers.{l}.*
 *   hidden = RMSNorm(x_L)                           model.norm.weight
 *   logits = hidden·W_headᵀ                         lm_head.weight, or E when tied
 * </pre>
 * The rotary tables of a pass are sliced once and shared by every layer.
 */
final class LlamaDecoder extends Decoder {
    private final Parameter embed;
    private final LlamaDecoderLayer[] layers;
    private final RmsNorm norm;
    private final Parameter head;
    private final Rope rope;

    LlamaDecoder(ModelConfig c, Registry r, NDManager manager) {
        super(c, r, manager);
        embed = param("model.embed_tokens.weight", c.vocabSize(), c.hiddenSize());
        layers = new LlamaDecoderLayer[c.numLayers()];
        for (int i = 0; i < layers.length; i++) {
            layers[i] = child("layer" + i, new LlamaDecoderLayer("model.layers." + i + ".", r, c, i));
        }
        norm = child("norm", new RmsNorm("model.norm.", r, c.hiddenSize(), c.normEps()));
        head = headOrTied(embed);
        rope = new Rope(c, manager);
    }

    @Override
    Object shared(Pass p) {
        return p.packing == null ? rope.slice(p.offset, p.length, p.manager, p.compute)
                : rope.gather(p.packing, p.manager, p.compute);
    }

    @Override
    NDArray embedding(NDArray ids, Pass p) {
        return Ops.to(Ops.rows(ids, w(embed)), p.compute); // [B, T, E]; float16 rows of a stored-only table widen here
    }

    @Override
    Parameter[] embeddings() {
        return new Parameter[] {embed};
    }

    @Override
    int layerCount() {
        return layers.length;
    }

    @Override
    NDArray layer(int i, NDArray x, Pass p, Object shared) {
        return layers[i].forward(x, p, (Rope.Slice) shared);
    }

    @Override
    NDArray finalNorm(NDArray x) {
        return norm.forward(x);
    }

    @Override
    Parameter head() {
        return head;
    }
}
