package io.github.align4j.train.internal;

import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.internal.PromptSharing;

/**
 * The matrix-multiply FLOPs of one DPO training step (2·m·n·k per product of [m, k] by [k, n]),
 * counted from config.json and the shape, the way the trainer runs it; docs/performance.md
 * ("GFLOP/s") has the formulas. Element-wise work (norms, softmax, rotary, activations, dropout,
 * the optimizer) is not counted.
 *
 * <p>R = 2·pairs sequences of T tokens, N = R·T positions, M = 2·pairs·C scored positions (the head runs
 * on completion positions only); when a pair's prompt is shared ({@code PromptSharing}), R = pairs rows of
 * T + C tokens (prompt, chosen, rejected), attention over the whole (T + C)² square. One forward of the base is Σ over layers of 2·N·Σ in·out of its
 * projections, plus attention 4·R·H·T²·D (q·kᵀ and probs·v over the full T × T square), plus the
 * head 2·M·E·V; each LoRA adapter adds 2·N·r·(in + out).
 *
 * @param forward the policy's forward (the base, with the adapters under LoRA)
 * @param reference the reference's forward (the base without adapters; 0 when precomputed)
 * @param recompute the decoder layers' forward again in the backward pass (gradient checkpointing;
 *     the head is not recomputed)
 * @param inputGradients gradients with respect to every product's activation input: the same
 *     FLOPs as the forward, plus the second operand of attention's two products (both are
 *     activations)
 * @param weightGradients gradients of trainable weights: the base's projections and head in full
 *     fine-tuning, the adapters' A and B under LoRA (a frozen weight gets none)
 */
record StepFlops(double forward, double reference, double recompute, double inputGradients, double weightGradients) {

    /** Σ of the terms. */
    double total() {
        return forward + reference + recompute + inputGradients + weightGradients;
    }

    /**
     * @param lora null for full fine-tuning
     * @param precomputedRef no reference forward during the step
     * @param gpu whether the step runs on a GPU (where a pair's prompt is shared as the scorer decides there)
     */
    static StepFlops of(ModelConfig c, int pairs, int tokens, int completion, LoraConfig lora, boolean gradientCheckpointing,
            boolean precomputedRef, boolean gpu) {
        double m = 2.0 * pairs * completion;
        double rows = 2.0 * pairs;
        if (tokens > completion && PromptSharing.shares(PromptSharing.mode(), c, pairs, tokens + completion, 2L * pairs, tokens, gpu)) {
            rows = pairs; // a pair's prompt once: [prompt | chosen | rejected] (SequenceScorer's layout)
            tokens += completion;
        }
        double n = rows * tokens;
        double linear = 0; // Σ over layers of 2·N·in·out
        double adapters = 0; // Σ over adapters of 2·N·r·(in + out)
        for (int i = 0; i < c.numLayers(); i++) {
            linear += 2 * n * MemoryModel.layerLinearParameters(c);
            if (lora != null) {
                for (MemoryModel.Module mod : MemoryModel.adapted(c, lora, i)) {
                    adapters += 2 * n * lora.r() * (double) (mod.in() + mod.out());
                }
            }
        }
        long headDim = c.isGpt2() ? c.hiddenSize() / c.numHeads() : c.headDim();
        double attention = c.numLayers() * 4.0 * rows * c.numHeads() * (double) tokens * tokens * headDim;
        double head = 2 * m * c.hiddenSize() * (double) c.vocabSize();
        double base = linear + attention + head;
        double forward = base + adapters;
        double reference = precomputedRef ? 0 : base;
        double recompute = gradientCheckpointing ? linear + attention + adapters : 0;
        double inputGradients = linear + 2 * attention + head + adapters;
        double weightGradients = lora == null ? linear + head : adapters;
        return new StepFlops(forward, reference, recompute, inputGradients, weightGradients);
    }
}
