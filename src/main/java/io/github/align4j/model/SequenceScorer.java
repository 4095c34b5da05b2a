package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.internal.Scalars;

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
     * @throws io.github.align4j.Align4jException when a sequence is longer than the model's positions or
     *     the batch's attention alone cannot fit in the memory available ({@link SequenceLimits})
     */
    public static Scores score(CausalLM lm, NDManager manager, int[][] sequences, int[] completionStart) {
        int b = sequences.length;
        int t = 0;
        int m = 0;
        for (int i = 0; i < b; i++) {
            t = Math.max(t, sequences[i].length);
            m += sequences[i].length - Math.max(completionStart[i], 1);
        }
        SequenceLimits.checkLength(lm.config(), t, "a sequence to score", "truncate the data (max_length)");
        SequenceLimits.checkMemory(lm, b, t, lm.hasTrainableWeights() && ai.djl.pytorch.jni.JniUtils.isGradMode(),
                "lower the batch size or max_length");
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
        NDArray idArray = Scalars.owned(manager.create(ids, new Shape(b, t)));
        NDArray hidden = lm.hidden(idArray, null); // [B, T, E]
        NDArray flat = hidden.reshape(-1, hidden.getShape().get(2)); // [B·T, E]
        NDArray rowIds = Scalars.owned(manager.create(rows));
        NDArray picked = Ops.rows(rowIds, flat); // [M, E]
        Ops.free(idArray, hidden, flat, rowIds);
        NDArray logits = lm.head(picked); // [M, V]
        Ops.free(picked);
        if (logits.getDataType() != DataType.FLOAT32) {
            NDArray wide = logits.toType(DataType.FLOAT32, false);
            Ops.free(logits);
            logits = wide;
        }
        NDArray logSoftmax = logits.logSoftmax(-1);
        NDArray targetIds = Scalars.owned(manager.create(targets, new Shape(m, 1)));
        NDArray picks = logSoftmax.gather(targetIds, -1); // [M, 1]
        Ops.free(logSoftmax, targetIds);
        NDArray seg = Scalars.owned(manager.create(segment, new Shape(b, m)));
        NDArray summed = seg.matMul(picks); // [B, 1]
        NDArray logps = summed.reshape(b);
        NDArray frozen = logits.stopGradient();
        NDArray meanLogit = frozen.mean(new int[] {-1}, true); // [M, 1]
        NDArray logitSummed = seg.matMul(meanLogit);
        NDArray logitSums = logitSummed.reshape(b);
        Ops.free(logits, picks, summed, frozen, meanLogit, logitSummed, seg);
        return new Scores(logps, Scalars.owned(manager.create(counts)), logitSums);
    }
}
