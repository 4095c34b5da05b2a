package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;

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

    /** [..., in] → [..., out]. */
    NDArray forward(NDArray x) {
        NDArray b = bias == null ? null : bias.getArray();
        if (!fanInFanOut) {
            return Ops.linear(x, weight.getArray(), b);
        }
        NDArray wt = weight.getArray().transpose(); // [in, out] → linear's [out, in], a view: one fused addmm
        NDArray y = Ops.linear(x, wt, b);
        Ops.free(wt);
        return y;
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

    boolean hasBias() {
        return bias != null;
    }
}
