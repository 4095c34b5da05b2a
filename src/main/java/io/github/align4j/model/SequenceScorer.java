package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Scalars;
import io.github.align4j.model.internal.HeadBlocks;
import io.github.align4j.model.internal.PromptSharing;
import io.github.align4j.model.internal.SequenceLimits;

/**
 * Sequence log-probabilities of completions, as TRL's DPOTrainer computes them for decoder-only
 * models: {@code log p(y | x) = Σ_{t ∈ completion} log_softmax(logits[t−1])[ids[t]]}.
 *
 * <p>Only completion positions go through the head and the log-softmax: the hidden states of
 * those positions are gathered first, so the [B, T, V] logits of prompt and padding positions are
 * never computed.
 *
 * <p>When sequence i and sequence i + B/2 begin with the same prompt (a pair's chosen and rejected rows,
 * as the trainers order them), the pair runs as one row {@code [prompt | chosen | rejected]} whose
 * rejected tokens see the prompt but not the chosen ones, at the positions their own row would give
 * them ({@link ScoreLayout}): the same log-probs, the prompt's layers run once instead of twice. It is
 * done where it is less work ({@code model.internal.PromptSharing}; {@code ALIGN4J_SHARED_PROMPTS} =
 * {@code auto}, {@code on} or {@code off}).
 *
 * <p>Two trainer options of TRL's DPOTrainer are computed here, where the per-token values are at
 * hand: LD-DPO's length-desensitised sums ({@code ld_alpha}: a row's first {@code full} completion
 * tokens count fully, the rest are scaled by α) and WPO's per-sequence mean aligned log-prob
 * ({@code use_weighting}: {@code mean_t [log p_t − log Σ_v p_v²]}, without a gradient).
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
     * @param alignedMeans WPO's mean over the completion tokens of {@code log p_t − log Σ_v p_v²}
     *     (no gradient), or null when not asked for
     */
    public record Scores(NDArray logps, NDArray tokens, NDArray logitSums, NDArray alignedMeans) {
        /** Scores without WPO's aligned means. */
        public Scores(NDArray logps, NDArray tokens, NDArray logitSums) {
            this(logps, tokens, logitSums, null);
        }
    }

    /**
     * How the completion tokens are summed.
     *
     * @param full per row, how many leading completion tokens count fully (LD-DPO's public length
     *     {@code l_p}); null: all of them
     * @param alpha the weight of the tokens after them (LD-DPO's α, TRL's {@code ld_alpha})
     * @param alignedMeans whether to compute {@link Scores#alignedMeans()} (WPO)
     */
    public record Options(int[] full, double alpha, boolean alignedMeans) {
        /** Plain sums, no aligned means. */
        public static final Options PLAIN = new Options(null, 1, false);
    }

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
        return score(lm, manager, sequences, completionStart, Options.PLAIN);
    }

    /**
     * {@link #score(CausalLM, NDManager, int[][], int[])} with LD-DPO's weighting of the tokens and
     * WPO's aligned means as {@code opts} asks.
     */
    public static Scores score(CausalLM lm, NDManager manager, int[][] sequences, int[] completionStart, Options opts) {
        boolean ld = opts.full() != null && opts.alpha() != 1;
        int b = sequences.length;
        int t = 0;
        int m = 0;
        for (int i = 0; i < b; i++) {
            t = Math.max(t, sequences[i].length);
            m += sequences[i].length - Math.max(completionStart[i], 1);
        }
        SequenceLimits.checkLength(lm.config(), t, "a sequence to score", "truncate the data (max_length)");
        boolean training = lm.hasTrainableWeights() && ai.djl.pytorch.jni.JniUtils.isGradMode();
        ScoreLayout layout = ScoreLayout.of(lm.config(), sequences, completionStart, PromptSharing.mode(), lm.device().isGpu());
        if (layout.packing != null) {
            try {
                SequenceLimits.checkMemory(lm, layout.rows, layout.length, training, "lower the batch size or max_length");
            } catch (Align4jException e) {
                layout = ScoreLayout.of(lm.config(), sequences, completionStart, PromptSharing.Mode.OFF, false); // more rows, shorter: less attention
            }
        }
        if (layout.packing == null) {
            SequenceLimits.checkMemory(lm, b, t, training, "lower the batch size or max_length");
        }
        long[] rows = new long[m]; // flat index (in the layout's [rows, length]) of the hidden state that predicts each completion token
        long[] targets = new long[m];
        float[] segment = new float[b * m]; // segment[i, j] = 1 when completion token j belongs to row i
        float[] weighted = ld ? new float[b * m] : segment; // LD-DPO: α after the row's first full[i] tokens
        float[] counts = new float[b];
        int j = 0;
        for (int i = 0; i < b; i++) {
            int[] s = sequences[i];
            for (int pos = Math.max(completionStart[i], 1); pos < s.length; pos++, j++) {
                rows[j] = layout.at(i, pos - 1);
                targets[j] = s[pos];
                segment[i * m + j] = 1f;
                if (ld) {
                    weighted[i * m + j] = counts[i] < opts.full()[i] ? 1f : (float) opts.alpha();
                }
                counts[i]++;
            }
        }
        NDArray idArray = Scalars.owned(manager.create(layout.ids, new Shape(layout.rows, layout.length)));
        NDArray hidden = lm.packedHidden(idArray, layout.packing); // [rows, length, E]
        NDArray flat = hidden.reshape(-1, hidden.getShape().get(2)); // [B·T, E]
        NDArray rowIds = Scalars.owned(manager.create(rows));
        NDArray picked = Ops.rows(rowIds, flat); // [M, E]
        Ops.free(idArray, hidden, flat, rowIds);
        NDArray targetIds = Scalars.owned(manager.create(targets, new Shape(m, 1)));
        NDArray[] terms = headTerms(lm, picked, targetIds, opts.alignedMeans());
        Ops.free(picked, targetIds);
        NDArray picks = terms[0];
        NDArray meanLogit = terms[1];
        NDArray logDenom = terms[2];
        NDArray seg = Scalars.owned(manager.create(segment, new Shape(b, m)));
        NDArray summed;
        if (ld) {
            NDArray w = Scalars.owned(manager.create(weighted, new Shape(b, m)));
            summed = w.matMul(picks); // [B, 1]
            Ops.free(w);
        } else {
            summed = seg.matMul(picks); // [B, 1]
        }
        NDArray logps = summed.reshape(b);
        NDArray aligned = opts.alignedMeans() ? alignedMeans(manager, logDenom, picks, seg, counts) : null;
        NDArray logitSummed = seg.matMul(meanLogit);
        NDArray logitSums = logitSummed.reshape(b);
        Ops.free(picks, summed, meanLogit, logitSummed, seg);
        return new Scores(logps, Scalars.owned(manager.create(counts)), logitSums, aligned);
    }

    /** {@link HeadBlocks#BYTES}, lowered by tests. */
    static long headBlockBytes = HeadBlocks.BYTES;

    /** {@link HeadBlocks#MIN_ROWS}, lowered by tests. */
    static long minBlockRows = HeadBlocks.MIN_ROWS;

    /** Row blocks scored ({@link #headTerms}), for tests to tell which path ran. */
    static final java.util.concurrent.atomic.AtomicLong BLOCKS = new java.util.concurrent.atomic.AtomicLong();

    /**
     * For the completion positions' hidden states [M, E] and target ids [M, 1]: the target's log-probability
     * log_softmax(logits)[target] (with the gradient), the mean logit over the vocabulary and, when asked, WPO's
     * log Σ_v p_v² (both without a gradient), [M, 1] each (the last null when not asked).
     *
     * <p>The [M, V] logits and log-softmax are computed in blocks of rows ({@link HeadBlocks}: at most 16 MiB of
     * logits, at least 64 rows) on the CPU when they are larger than a block, the head's weight is held in the activations'
     * type or small enough to widen at once ({@link Decoder#headChunkElements}; then widened once for all blocks), and it
     * takes no gradient here (a frozen head, or a pass without a graph): each block's logits are freed once its
     * log-softmax is taken, and autograd keeps the blocks' log-softmax as it kept the whole one. Every row's values
     * are its own (a row's logits do not depend on the other rows). A trainable head keeps one product, so that its
     * weight gradient is one product too; a larger float16 head is widened in slices of the vocabulary
     * ({@link Decoder#logits}) once per call, so it keeps one product as well.
     */
    private static NDArray[] headTerms(CausalLM lm, NDArray picked, NDArray targetIds, boolean aligned) {
        long m = picked.getShape().get(0);
        NDArray w = lm.parts.decoder.head().getArray();
        long rows = HeadBlocks.rows(w.getShape().get(0), m, headBlockBytes, minBlockRows);
        boolean headTrains = w.hasGradient() && ai.djl.pytorch.jni.JniUtils.isGradMode();
        boolean widenAtOnce = w.getDataType() == picked.getDataType() || w.size() <= Decoder.headChunkElements;
        if (rows == 0 || headTrains || !widenAtOnce || w.getDevice().isGpu()) {
            return blockTerms(lm, picked, targetIds, aligned, null);
        }
        NDArray wide = Ops.as(w, picked); // a float16 head widened once for all blocks (autograd keeps it, as before)
        long[] cuts = new long[(int) ((m - 1) / rows)];
        for (int i = 0; i < cuts.length; i++) {
            cuts[i] = (i + 1) * rows;
        }
        NDList blocks = picked.split(cuts, 0);
        NDList targets = targetIds.split(cuts, 0);
        NDList[] parts = {new NDList(), new NDList(), new NDList()};
        BLOCKS.addAndGet(blocks.size());
        for (int i = 0; i < blocks.size(); i++) {
            NDArray[] t = blockTerms(lm, blocks.get(i), targets.get(i), aligned, wide);
            for (int k = 0; k < 3; k++) {
                if (t[k] != null) {
                    parts[k].add(t[k]);
                }
            }
        }
        blocks.close();
        targets.close();
        Ops.free(wide == w ? null : wide);
        NDArray[] out = new NDArray[3];
        for (int k = 0; k < 3; k++) {
            out[k] = parts[k].isEmpty() ? null : NDArrays.concat(parts[k], 0);
            parts[k].close();
        }
        return out;
    }

    /** {@link #headTerms} for one block of rows, in one product (with the head's weight {@code wide}, or null: the model's head). */
    private static NDArray[] blockTerms(CausalLM lm, NDArray hidden, NDArray targetIds, boolean aligned, NDArray wide) {
        NDArray logits = wide == null ? lm.head(hidden) : Ops.linear(hidden, wide, null); // [rows, V]
        if (logits.getDataType() != DataType.FLOAT32) {
            NDArray f32 = logits.toType(DataType.FLOAT32, false);
            Ops.free(logits);
            logits = f32;
        }
        NDArray logSoftmax = logits.logSoftmax(-1);
        NDArray picks = logSoftmax.gather(targetIds, -1); // [rows, 1]
        NDArray logDenom = aligned ? logSumOfSquares(logSoftmax) : null;
        NDArray frozen = logits.stopGradient();
        NDArray meanLogit = frozen.mean(new int[] {-1}, true); // [rows, 1]
        Ops.free(logSoftmax, frozen, logits);
        return new NDArray[] {picks, meanLogit, logDenom};
    }

    /**
     * {@code log Σ_v p_v²} per position (= logsumexp(2·logits) − 2·logsumexp(logits)), without a gradient,
     * from the log-softmax the forward pass computed anyway; [M, 1]. Σ p² ≥ 1/V, so no underflow.
     */
    private static NDArray logSumOfSquares(NDArray logSoftmax) {
        NDArray ls = logSoftmax.stopGradient();
        NDArray twice = ls.mul(2);
        NDArray sq = twice.exp();
        NDArray sum = sq.sum(new int[] {-1}, true);
        NDArray out = sum.log();
        Ops.free(ls, twice, sq, sum);
        return out;
    }

    /**
     * {@link CausalLM#score(TextTokenizer, String, String...)}: log p(completion + EOS | prompt) of each
     * completion, prompt and completion tokenized separately, as TRL does; arrays made here are freed.
     */
    static double[] completions(CausalLM lm, TextTokenizer tokenizer, String prompt, String... completions) {
        Integer eos = tokenizer.eosId();
        if (eos == null) {
            throw new Align4jException(tokenizer.dir() + ": the tokenizer has no EOS token, which TRL appends to each "
                    + "completion: set eos_token in tokenizer_config.json");
        }
        int[] p = tokenizer.encode(prompt);
        int[][] sequences = new int[completions.length][];
        int[] starts = new int[completions.length];
        for (int i = 0; i < completions.length; i++) {
            int[] c = tokenizer.encode(completions[i]);
            int[] s = java.util.Arrays.copyOf(p, p.length + c.length + 1);
            System.arraycopy(c, 0, s, p.length, c.length);
            s[s.length - 1] = eos;
            sequences[i] = s;
            starts[i] = p.length;
        }
        try (NDManager batch = lm.manager().newSubManager()) {
            float[] f = score(lm, batch, sequences, starts).logps().toFloatArray();
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) {
                d[i] = f[i];
            }
            return d;
        }
    }

    /**
     * WPO (Zhou et al. 2024, eq. 2) as TRL's DPOTrainer computes it, with no gradient: per completion
     * token {@code log p_t − log Σ_v p_v²} (the log of the token's probability over the distribution's
     * own expected probability), averaged over the row's completion tokens; [B].
     */
    private static NDArray alignedMeans(NDManager manager, NDArray logDenom, NDArray picks, NDArray seg, float[] counts) {
        NDArray frozenPicks = picks.stopGradient();
        NDArray diff = frozenPicks.sub(logDenom); // [M, 1]
        NDArray total = seg.matMul(diff).reshape(counts.length);
        float[] inv = new float[counts.length];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = counts[i] > 0 ? 1f / counts[i] : 0f;
        }
        NDArray invArr = Scalars.owned(manager.create(inv));
        NDArray mean = total.mul(invArr);
        Ops.free(logDenom, frozenPicks, diff, total, invArr);
        return mean;
    }
}
