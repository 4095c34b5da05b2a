package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import io.github.align4j.model.internal.HeadBlocks;
import io.github.align4j.model.internal.ModelDtypes;

/**
 * A causal language model as its {@link ModelFamily} builds it:
 * <pre>
 *   hidden = norm(block_L(… block_1(embed(ids)) …))      [B, T] → [B, T, E]
 *   logits = hidden · W_headᵀ                              [B, T, E] → [B, T, V]
 * </pre>
 * Subclasses own their modules and register their tensors in checkpoint order; this class holds what
 * every family shares: the pass bookkeeping (offsets, KV cache, attention masks) and the head.
 */
abstract class Decoder extends Layer {
    final ModelConfig config;
    private final Pass.Masks masks;
    /** The activations' type ({@link ModelDtypes#computeType}); set by {@link CausalLM} once built. */
    DataType compute = DataType.FLOAT32;
    /** The LoRA adapters, or null; set by {@link AdapterSlot} when adapters are added or loaded. */
    Adapters adapters;
    /** Training passes whose layers wait to be recomputed in the backward pass (gradient checkpointing). */
    final Recompute recompute = new Recompute(this);

    Decoder(ModelConfig c, Registry r, NDManager manager) {
        super("", r);
        this.config = c;
        this.masks = new Pass.Masks(manager);
    }

    /**
     * Hidden states after the final norm.
     *
     * @param ids [B, T] int64 token ids, right-padded; positions start at 0 in every row
     *     (at {@code cache.length()} when a KV cache is given)
     * @param cache earlier keys and values, extended in place; null for a full pass
     * @param checkpoint keep only each layer's input when this pass trains (grad mode on, no cache),
     *     to recompute the layers in {@link Recompute#backward}
     * @return [B, T, E]
     */
    final NDArray hidden(NDArray ids, KvCache cache, boolean checkpoint) {
        return hidden(ids, cache, null, checkpoint);
    }

    /**
     * Hidden states of packed rows ({@link Packing}: per token a position and a branch of the attention mask).
     *
     * @param ids [B, T] int64 token ids laid out as {@code packing} says
     * @return [B, T, E]
     */
    final NDArray hidden(NDArray ids, Packing packing, boolean checkpoint) {
        return hidden(ids, null, packing, checkpoint);
    }

    private NDArray hidden(NDArray ids, KvCache cache, Packing packing, boolean checkpoint) {
        long b = ids.getShape().get(0);
        long t = ids.getShape().get(1);
        long offset = cache == null ? 0 : cache.length;
        Adapters a = adapters;
        boolean training = ai.djl.pytorch.jni.JniUtils.isGradMode();
        Pass p = new Pass(ids.getManager(), b, t, offset, masks, cache, training, a == null ? 0 : a.nextPass(),
                compute, packing);
        if (a != null) {
            a.enter(p);
        }
        NDArray out;
        try {
            out = checkpoint && training && cache == null ? recompute.forward(ids, p) : forward(ids, p);
        } finally {
            if (a != null) {
                a.leave();
            }
        }
        if (cache != null) {
            cache.length += t;
        }
        return out;
    }

    /** Embeddings → blocks → final norm: [B, T] ids → [B, T, E]; every intermediate freed. */
    final NDArray forward(NDArray ids, Pass p) {
        Object shared = shared(p);
        NDArray x = embedding(ids, p);
        for (int i = 0; i < layerCount(); i++) {
            NDArray next = layer(i, x, p, shared);
            Ops.free(x);
            x = next;
        }
        NDArray out = finalNorm(x);
        Ops.free(x);
        return out;
    }

    /** What every layer of a pass reads and no layer changes (Llama's rotary tables), or null. */
    Object shared(Pass p) {
        return null;
    }

    /** The input of the first layer: [B, T] ids → [B, T, E]. */
    abstract NDArray embedding(NDArray ids, Pass p);

    /** The weights {@link #embedding} reads (the token table, and GPT-2's position table). */
    abstract Parameter[] embeddings();

    /** The number of decoder layers. */
    abstract int layerCount();

    /** Decoder layer i: [B, T, E] → [B, T, E]; x stays the caller's. */
    abstract NDArray layer(int i, NDArray x, Pass p, Object shared);

    /** The final norm: [B, T, E] → [B, T, E]; x stays the caller's. */
    abstract NDArray finalNorm(NDArray x);

    /** The head's weight [V, E]. */
    abstract Parameter head();

    /**
     * Elements of the head converted at once when it is held in another type than the activations
     * (float16 weights, float32 activations): 16 Mi (64 MiB as float32). A larger head (32000 × 4096
     * is 131 Mi) is converted and applied in slices of whole vocabulary rows, so the transient
     * float32 copy stays bounded however large the vocabulary.
     */
    static long headChunkElements = HeadBlocks.WIDEN_AT_ONCE;

    /**
     * Logits of hidden states: h·W_headᵀ, [..., E] → [..., V]. A head held in float16 under float32
     * activations is converted per use, in slices of at most {@link #headChunkElements} elements.
     */
    final NDArray logits(NDArray hidden) {
        NDArray w = w(head());
        if (w.getDataType() == hidden.getDataType()) {
            return Ops.linear(hidden, w, null);
        }
        long v = w.getShape().get(0);
        long rows = Math.max(1, headChunkElements / w.getShape().get(1));
        if (rows >= v) {
            NDArray wide = Ops.as(w, hidden);
            NDArray out = Ops.linear(hidden, wide, null);
            Ops.free(wide);
            return out;
        }
        NDList parts = new NDList();
        for (long start = 0; start < v; start += rows) {
            NDArray slice = w.get(new NDIndex("{}:{}", start, Math.min(v, start + rows)));
            NDArray wide = Ops.as(slice, hidden);
            parts.add(Ops.linear(hidden, wide, null)); // [..., rows]
            Ops.free(slice, wide);
        }
        NDArray out = ai.djl.ndarray.NDArrays.concat(parts, -1);
        parts.close();
        return out;
    }

    /**
     * {@code lm_head.weight} [V, E], or the token embedding when {@code tie_word_embeddings}; a
     * subclass calls it after all its other tensors (checkpoint order).
     */
    final Parameter headOrTied(Parameter tokens) {
        return config.tieWordEmbeddings() ? tokens : param("lm_head.weight", config.vocabSize(), config.hiddenSize());
    }
}
