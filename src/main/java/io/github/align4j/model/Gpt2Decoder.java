package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import io.github.align4j.Align4jException;

/**
 * GPT-2 (transformers' {@code GPT2LMHeadModel}):
 * <pre>
 *   x₀     = W_te[ids] + W_pe[positions]            transformer.wte.weight [V, E], transformer.wpe.weight [P, E]
 *   x_l+1  = block_l(x_l)                           transformer.h.{l}.*
 *   hidden = LayerNorm(x_L)                         transformer.ln_f.*
 *   logits = hidden·W_headᵀ                         W_te when tied (GPT-2's default), else lm_head.weight
 * </pre>
 */
final class Gpt2Decoder extends Decoder {
    private final Parameter wte;
    private final Parameter wpe;
    private final Gpt2Block[] blocks;
    private final LayerNorm lnF;
    private final Parameter head;

    Gpt2Decoder(ModelConfig c, Registry r, NDManager manager) {
        super(c, r, manager);
        wte = param("transformer.wte.weight", c.vocabSize(), c.hiddenSize());
        wpe = param("transformer.wpe.weight", c.maxPositions(), c.hiddenSize());
        blocks = new Gpt2Block[c.numLayers()];
        for (int i = 0; i < blocks.length; i++) {
            blocks[i] = child("layer" + i, new Gpt2Block("transformer.h." + i + ".", r, c, i));
        }
        lnF = child("norm", new LayerNorm("transformer.ln_f.", r, c.hiddenSize(), c.normEps()));
        head = headOrTied(wte);
    }

    @Override
    NDArray embedding(NDArray ids, Pass p) {
        long span = p.packing != null ? p.packing.span() : p.offset + p.length;
        if (span > config.maxPositions()) {
            throw new Align4jException("sequence of " + span + " tokens is longer than the model's "
                    + "n_positions (" + config.maxPositions() + "); lower max_length");
        }
        NDArray x = Ops.to(Ops.rows(ids, w(wte)), p.compute); // [B, T, E]
        NDArray pos;
        if (p.packing != null) {
            pos = p.packing.positions(ids.getManager()); // [B, T]: each token's own position
        } else {
            NDArray range = ids.getManager().arange((int) p.offset, (int) (p.offset + p.length));
            pos = range.toType(DataType.INT64, false);
            Ops.free(range);
        }
        NDArray pe = Ops.to(Ops.rows(pos, w(wpe)), p.compute);
        x.addi(pe); // [T, E] broadcast over B (or [B, T, E] packed), in place (the lookup's backward does not need its output)
        Ops.free(pos, pe);
        return x;
    }

    @Override
    Parameter[] embeddings() {
        return new Parameter[] {wte, wpe};
    }

    @Override
    int layerCount() {
        return blocks.length;
    }

    @Override
    NDArray layer(int i, NDArray x, Pass p, Object shared) {
        return blocks[i].forward(x, p);
    }

    @Override
    NDArray finalNorm(NDArray x) {
        return lnF.forward(x);
    }

    @Override
    Parameter head() {
        return head;
    }
}
