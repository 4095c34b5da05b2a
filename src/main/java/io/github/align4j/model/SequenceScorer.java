package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Sequence log-probabilities of completions, as TRL's DPOTrainer computes them for decoder-only
 * models: {@code log p(y | x) = Σ_{t ∈ completion} log_softmax(logits[t−1])[ids[t]]}.
 *
 * <p>Only completion positions go through the head and the log-softmax: the hidden states of
 * those positions are gathered first, so the [B, T, V] logits of prompt and padding positions are
 * never computed.
 */
public final class SequenceScorer {
    private SequenceScorer() {}

    /**
     * Per-sequence results, each [B] float32.
     *
     * @param logps Σ log-prob of the completion tokens (carries gradients when the model does)
     * @param tokens completion token counts
     * @param logitSums Σ over completion positions of the mean logit over the vocabulary (no
     *     gradient), for TRL's {@code logits/chosen} metric
     */
    public record Scores(NDArray logps, NDArray tokens, NDArray logitSums) {}

    /**
     * Scores B sequences in one forward pass.
     *
     * @param manager owner of the arrays made here (a per-step sub-manager)
     * @param sequences prompt + completion token ids per row (ragged; right-padded here)
     * @param completionStart the index of the first completion token in each row (the prompt length)
     */
    public static Scores score(CausalLM lm, NDManager manager, int[][] sequences, int[] completionStart) {
        int b = sequences.length;
        int t = 0;
        int m = 0;
        for (int i = 0; i < b; i++) {
            t = Math.max(t, sequences[i].length);
            m += sequences[i].length - Math.max(completionStart[i], 1);
        }
        long[] ids = new long[b * t];
        long[] rows = new long[m]; // flat index (i·T + pos−1) of the hidden state that predicts each completion token
        long[] targets = new long[m];
        float[] segment = new float[b * m]; // segment[i, j] = 1 when completion token j belongs to row i
        float[] counts = new float[b];
        int j = 0;
        for (int i = 0; i < b; i++) {
            int[] s = sequences[i];
            for (int pos = 0; pos < s.length; pos++) {
                ids[i * t + pos] = s[pos];
            }
            for (int pos = Math.max(completionStart[i], 1); pos < s.length; pos++, j++) {
                rows[j] = (long) i * t + pos - 1;
                targets[j] = s[pos];
                segment[i * m + j] = 1f;
                counts[i]++;
            }
        }
        NDArray idArray = manager.create(ids, new Shape(b, t));
        NDArray hidden = lm.hidden(idArray, null); // [B, T, E]
        NDArray flat = hidden.reshape(-1, hidden.getShape().get(2)); // [B·T, E]
        NDArray picked = Ops.rows(manager.create(rows), flat); // [M, E]
        NDArray logits = lm.head(picked); // [M, V]
        if (logits.getDataType() != DataType.FLOAT32) {
            logits = logits.toType(DataType.FLOAT32, false);
        }
        NDArray tokenLogps = logits.logSoftmax(-1).gather(manager.create(targets, new Shape(m, 1)), -1).reshape(m); // [M]
        NDArray seg = manager.create(segment, new Shape(b, m));
        NDArray logps = seg.matMul(tokenLogps.reshape(m, 1)).reshape(b);
        NDArray logitSums = seg.matMul(logits.stopGradient().mean(new int[] {-1}).reshape(m, 1)).reshape(b);
        return new Scores(logps, manager.create(counts), logitSums);
    }
}
