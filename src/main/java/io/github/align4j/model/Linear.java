package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import io.github.align4j.model.internal.HalfProducts;

/**
 * One projection of a block, under its Hugging Face module name ({@code model.layers.3.self_attn.q_proj}):
 * <pre>
 *   y = x·Wᵀ + b     torch.nn.Linear, W stored [out, in]
 *   y = x·W  + b     GPT-2's Conv1D (PEFT's fan_in_fan_out), W stored [in, out]
 * </pre>
 * Every projection of every family is one of these, so code that finds projections by name (LoRA's
 * {@code target_modules}) sees one type. The head is not one: it may share the token embedding.
 */
final class Linear {
    private final String name;
    private final Parameter weight;
    private final Parameter bias; // null when the module has none, as nn.Linear(bias=False)
    private final boolean fanInFanOut;
    private final long in;
    private final long out;
    private Adapters adapters; // null: no LoRA on this projection
    private Adapters.Lora lora;

    /** Sizes of a torch.nn.Linear: {@code name.weight} [out, in] and, if {@code bias}, {@code name.bias} [out]. */
    record Spec(String name, long out, long in, boolean bias) {}

    Linear(String name, Parameter weight, Parameter bias, boolean fanInFanOut, long in, long out) {
        this.name = name;
        this.weight = weight;
        this.bias = bias;
        this.fanInFanOut = fanInFanOut;
        this.in = in;
        this.out = out;
    }

    /**
     * [..., in] → [..., out]: the base projection, plus {@code scaling · B·A·dropout(x)} when a LoRA
     * adapter is attached and the model's adapters are on. Frozen weights held in another precision
     * than x (float16 weights, float32 activations on the CPU) are converted for this product only, or,
     * without a gradient and where this machine's float16 GEMM is faster, multiply x rounded to float16
     * ({@link HalfProducts}).
     */
    NDArray forward(NDArray x) {
        NDArray y = HalfProducts.inHalf(weight.getArray(), x) ? halfBase(x) : base(x);
        if (lora != null && adapters.enabled) {
            NDArray u = update(x);
            y.addi(u); // in place: addmm's backward does not need its output
            Ops.free(u); // autograd keeps what it needs; an open handle would hold N·out floats until the step ends
        }
        return y;
    }

    /** x·Wᵀ + b in x's precision (a float16 weight widened for this product only). */
    private NDArray base(NDArray x) {
        NDArray w = Ops.as(weight.getArray(), x);
        NDArray b = bias == null ? null : Ops.as(bias.getArray(), x);
        NDArray wt = fanInFanOut ? w.transpose() : w; // Conv1D [in, out] → linear's [out, in], a view: one fused addmm
        NDArray y = Ops.linear(x, wt, b);
        Ops.free(wt == w ? null : wt, w == weight.getArray() ? null : w, bias == null || b == bias.getArray() ? null : b);
        return y;
    }

    /**
     * x·Wᵀ + b for a float16 weight without a gradient, where this machine multiplies float16 faster
     * ({@link HalfProducts}): x rounded to float16, the float16 GEMM, the product widened to x's type.
     */
    private NDArray halfBase(NDArray x) {
        NDArray w = weight.getArray();
        NDArray x16 = x.toType(DataType.FLOAT16, false);
        NDArray b = bias == null ? null : Ops.as(bias.getArray(), x16);
        NDArray wt = fanInFanOut ? w.transpose() : w;
        NDArray y16 = Ops.linear(x16, wt, b);
        NDArray y = y16.toType(x.getDataType(), false);
        Ops.free(x16, y16, wt == w ? null : wt, bias == null || b == bias.getArray() ? null : b);
        return y;
    }

    /**
     * scaling · dropout(x)·Aᵀ·Bᵀ, computed in the adapter's precision and returned in x's (see {@link Adapters#input}:
     * the projections reading the same x share its converted, dropped copy).
     */
    private NDArray update(NDArray x) {
        NDArray a = lora.a().getArray();
        NDArray read = adapters.input(x, a.getDataType(), lora.index()); // the adapters' own: not freed here
        NDArray ax = Ops.linear(read, a, null); // [..., r]
        NDArray bax = Ops.linear(ax, lora.b().getArray(), null); // [..., out]
        Ops.free(ax);
        // scaling and dropout's 1/(1−p) at once, on [..., out]: in place, mm's backward does not need its output
        Ops.timesInPlace(bax, (float) adapters.scale(adapters.dropping()));
        if (bax.getDataType() != x.getDataType()) {
            NDArray narrow = bax.toType(x.getDataType(), false);
            Ops.free(bax);
            bax = narrow;
        }
        return bax;
    }

    /** Attaches a LoRA adapter (the model's {@link Adapters} hold its A and B). */
    void attach(Adapters a, Adapters.Lora l) {
        this.adapters = a;
        this.lora = l;
    }

    /** The attached adapter, or null. */
    Adapters.Lora lora() {
        return lora;
    }

    /** The Hugging Face module name, without {@code .weight}. */
    String name() {
        return name;
    }

    long inFeatures() {
        return in;
    }

    long outFeatures() {
        return out;
    }

    /** True when the weight is stored [in, out] (GPT-2's Conv1D). */
    boolean fanInFanOut() {
        return fanInFanOut;
    }

    Parameter weight() {
        return weight;
    }

    /** The bias, or null. */
    Parameter bias() {
        return bias;
    }

    boolean hasBias() {
        return bias != null;
    }
}
