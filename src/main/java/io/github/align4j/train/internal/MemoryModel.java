package io.github.align4j.train.internal;

import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.ModelConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * The counting behind {@link io.github.align4j.train.MemoryPlan}: weights and LoRA adapters from config.json alone, and what
 * autograd keeps per decoder layer, read off the model code (model.LlamaDecoderLayer,
 * LlamaAttention, CausalAttention, LlamaMlp, RmsNorm, Gpt2Block, Gpt2Attention, Gpt2Mlp). Counts
 * are elements unless a name says bytes; {@code n = rows · tokens} positions of one micro-batch.
 *
 * <p>Autograd saves an input of an op only when the gradient that needs it is wanted (libtorch's
 * generated code guards each saved variable), so a frozen base keeps less than full fine-tuning:
 * x·W with W frozen keeps W (for x's gradient) but not x, and RMSNorm's y·g with g frozen keeps
 * nothing of y.
 */
public final class MemoryModel {
    private MemoryModel() {}

    /**
     * One projection of a layer.
     *
     * @param name the Hugging Face module name (model.layers.3.self_attn.q_proj)
     * @param group the projections that read the same input: attn_in (q, k, v / c_attn), attn_out
     *     (o_proj / attn.c_proj), mlp_in (gate, up / c_fc), mlp_out (down / mlp.c_proj)
     */
    public record Module(String name, long in, long out, String group) {}

    public static final List<String> GROUPS = List.of("attn_in", "attn_out", "mlp_in", "mlp_out");

    /** The projections of layer {@code i}, as the model registers them. */
    public static List<Module> modules(ModelConfig c, int i) {
        long e = c.hiddenSize();
        long inner = c.intermediateSize();
        if (c.isGpt2()) {
            String p = "transformer.h." + i + ".";
            return List.of(new Module(p + "attn.c_attn", e, 3 * e, "attn_in"), new Module(p + "attn.c_proj", e, e, "attn_out"),
                    new Module(p + "mlp.c_fc", e, inner, "mlp_in"), new Module(p + "mlp.c_proj", inner, e, "mlp_out"));
        }
        String p = "model.layers." + i + ".";
        long q = (long) c.numHeads() * c.headDim();
        long kv = (long) c.numKvHeads() * c.headDim();
        return List.of(new Module(p + "self_attn.q_proj", e, q, "attn_in"), new Module(p + "self_attn.k_proj", e, kv, "attn_in"),
                new Module(p + "self_attn.v_proj", e, kv, "attn_in"), new Module(p + "self_attn.o_proj", q, e, "attn_out"),
                new Module(p + "mlp.gate_proj", e, inner, "mlp_in"), new Module(p + "mlp.up_proj", e, inner, "mlp_in"),
                new Module(p + "mlp.down_proj", inner, e, "mlp_out"));
    }

    /** Every weight of the model, as {@code CausalLM.parameterCount()} counts them. */
    public static long parameters(ModelConfig c) {
        long e = c.hiddenSize();
        long v = c.vocabSize();
        long perLayer = layerLinearParameters(c);
        if (c.isGpt2()) {
            perLayer += 4 * e + 3 * e + e + c.intermediateSize() + e; // ln_1, ln_2 (weight, bias), the four biases
            return v * e + (long) c.maxPositions() * e + c.numLayers() * perLayer + 2 * e + (c.tieWordEmbeddings() ? 0 : v * e);
        }
        long q = (long) c.numHeads() * c.headDim();
        long kv = (long) c.numKvHeads() * c.headDim();
        perLayer += 2 * e; // the two RMSNorm weights
        perLayer += c.qkvBias() ? q + 2 * kv : 0;
        perLayer += c.outputBias() ? e : 0;
        perLayer += c.mlpBias() ? 2L * c.intermediateSize() + e : 0;
        return v * e + c.numLayers() * perLayer + e + (c.tieWordEmbeddings() ? 0 : v * e);
    }

    /** Σ in·out over one layer's projections: the weights a float16 layer converts to float32. */
    public static long layerLinearParameters(ModelConfig c) {
        long n = 0;
        for (Module m : modules(c, 0)) {
            n += m.in() * m.out();
        }
        return n;
    }

    /** The projections LoRA adapts in layer {@code i} (PEFT's matching: the name, or a suffix after a dot). */
    public static List<Module> adapted(ModelConfig c, LoraConfig lora, int i) {
        List<String> want = lora.targetModules().isEmpty()
                ? (c.isGpt2() ? List.of("c_attn") : List.of("q_proj", "v_proj")) // PEFT's defaults, as ModelFamily
                : lora.targetModules();
        boolean all = want.contains(LoraConfig.ALL_LINEAR);
        List<Module> out = new ArrayList<>();
        for (Module m : modules(c, i)) {
            if (all || want.stream().anyMatch(t -> m.name().equals(t) || m.name().endsWith("." + t))) {
                out.add(m);
            }
        }
        return out;
    }

    /** A and B of every adapted projection: Σ r·(in + out). */
    public static long loraParameters(ModelConfig c, LoraConfig lora) {
        long n = 0;
        for (int i = 0; i < c.numLayers(); i++) {
            for (Module m : adapted(c, lora, i)) {
                n += (long) lora.r() * (m.in() + m.out());
            }
        }
        return n;
    }

    /**
     * Elements autograd keeps for one decoder layer's backward (its input included), split into
     * tensors so the caller can tell large allocations from small ones.
     *
     * <p>Both families keep the layer input x (the first norm's backward), the attention's q, k, v
     * and probabilities softmax(q·kᵀ) [rows, H, T, T] (fused attention: q, k and v repeated to the
     * H query heads, the output and a log-sum-exp per query and head instead), the residual mid (the second norm) and the
     * MLP's nonlinearity (Llama: gate output, its sigmoid, silu, up output; GPT-2: the c_fc output,
     * x², tanh, 1 + tanh). Full fine-tuning adds each projection's input (for its weight's
     * gradient) and, for Llama, RMSNorm's normalised x (for its weight's gradient). Under LoRA an
     * input is kept only for the adapters that read it: once, without dropout as it is, with dropout its
     * dropped copy and the mask (one byte a value), shared by the group's adapters (one mask per input); and
     * each adapter keeps its rank-r product x·Aᵀ.
     *
     * @param lora null for full fine-tuning
     * @param layer the layer's index (LoRA targets may name layers)
     * @param activationBytes bytes of an activation (the masks' byte counts are given in these units)
     * @param fusedAttention whether attention runs as the fused kernel ({@code FusedAttentionSwitch.fusedFor})
     * @return {count, elements} of each kind of tensor
     */
    public static List<long[]> layerTensors(ModelConfig c, long rows, long tokens, LoraConfig lora, int layer, long activationBytes,
            boolean fusedAttention) {
        long n = rows * tokens;
        long e = c.hiddenSize();
        long inner = c.intermediateSize();
        long q = (long) c.numHeads() * c.headDim();
        long kv = c.isGpt2() ? e : (long) c.numKvHeads() * c.headDim();
        List<long[]> t = new ArrayList<>(); // {count, elements each}
        t.add(new long[] {1, n * e}); // the layer's input
        t.add(new long[] {1, n * q}); // q
        if (fusedAttention) { // the fused kernel keeps k and v repeated to the query heads, its output and a log-sum-exp
            t.add(new long[] {3, n * q});
            t.add(new long[] {1, rows * c.numHeads() * tokens});
        } else {
            t.add(new long[] {2, n * kv}); // k and v
            t.add(new long[] {1, rows * c.numHeads() * tokens * tokens}); // softmax probabilities
        }
        t.add(new long[] {1, n * e}); // mid, the residual after attention
        t.add(new long[] {4, n * inner}); // the MLP's nonlinearity
        if (lora == null) {
            if (!c.isGpt2()) {
                t.add(new long[] {2, n * e}); // RMSNorm's x·rsqrt(mean x² + ε), for the norm weights' gradients
            }
            for (String g : GROUPS) {
                t.add(new long[] {1, n * groupInput(c, g)});
            }
            return t;
        }
        List<Module> adapted = adapted(c, lora, layer);
        for (String g : GROUPS) {
            long k = adapted.stream().filter(m -> m.group().equals(g)).count();
            if (k > 0) {
                t.add(new long[] {1, n * groupInput(c, g)}); // the input, or its dropped copy
                if (lora.dropout() > 0) { // the group's 0/1 byte mask autograd keeps
                    t.add(new long[] {1, (n * groupInput(c, g) + activationBytes - 1) / activationBytes});
                }
            }
        }
        if (!adapted.isEmpty()) {
            t.add(new long[] {adapted.size(), n * lora.r()}); // x·Aᵀ of each adapter
        }
        return t;
    }

    /** The input width of a group of projections. */
    public static long groupInput(ModelConfig c, String group) {
        return switch (group) {
            case "attn_out" -> c.isGpt2() ? c.hiddenSize() : (long) c.numHeads() * c.headDim();
            case "mlp_out" -> c.intermediateSize();
            default -> c.hiddenSize();
        };
    }

    /** Σ count·size of tensors. */
    public static long sum(List<long[]> tensors) {
        long s = 0;
        for (long[] x : tensors) {
            s += x[0] * x[1];
        }
        return s;
    }

    /**
     * What one layer's backward allocates on top of what it keeps: the gradients of the attention
     * probabilities and scores ([rows, H, T, T] each; with fused attention, of q and the repeated k and
     * v instead), of the MLP's widest tensors and of the residual stream.
     */
    public static List<long[]> layerBackwardTensors(ModelConfig c, long rows, long tokens, boolean fusedAttention) {
        long n = rows * tokens;
        long mlp = n * c.intermediateSize();
        if (fusedAttention) { // the fused kernel's backward: the gradients of q and of the repeated k, v
            long qkv = n * c.numHeads() * (c.isGpt2() ? c.hiddenSize() / c.numHeads() : c.headDim());
            return List.of(new long[] {3, Math.max(qkv, mlp)}, new long[] {2, n * c.hiddenSize()});
        }
        long square = rows * c.numHeads() * tokens * tokens;
        return List.of(square * 2 > mlp * 3 ? new long[] {2, square} : new long[] {3, mlp}, new long[] {2, n * c.hiddenSize()});
    }
}
