package io.github.align4j.eval;

import java.util.Arrays;
import java.util.Random;

/**
 * Picks one token from a row of logits, in Java: greedy argmax (ties to the lowest id), or
 * temperature → top-k → top-p (transformers' warper order) → a draw from the renormalised
 * probabilities. Candidates are visited in a fixed order (descending logit, ties by id), so a seed
 * fixes the draw.
 */
final class Sampler {
    private final int vocab;
    private final SamplingOptions o;
    private final long[] keys;
    private final double[] probs;

    Sampler(int vocab, SamplingOptions o) {
        this.vocab = vocab;
        this.o = o;
        this.keys = new long[vocab];
        this.probs = new double[vocab];
    }

    /** The token for logits[off .. off+V). */
    int pick(float[] logits, int off, Random rng) {
        int best = -1;
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < vocab; j++) {
            float v = logits[off + j];
            if (Float.isNaN(v)) {
                throw new IllegalStateException("the model produced a NaN logit (token " + j + "); the weights are broken");
            }
            if (best < 0 || v > max) {
                max = v;
                best = j;
            }
        }
        if (o.isGreedy() || max == Float.POSITIVE_INFINITY) {
            return best;
        }
        if (max == Float.NEGATIVE_INFINITY) {
            throw new IllegalStateException("every logit is -inf; nothing can be sampled");
        }
        double invT = 1.0 / o.temperature();
        boolean cut = (o.topK() > 0 && o.topK() < vocab) || o.topP() < 1.0;
        if (!cut) {
            double total = 0;
            for (int j = 0; j < vocab; j++) {
                double q = Math.exp((logits[off + j] - max) * invT);
                probs[j] = q;
                total += q;
            }
            double u = rng.nextDouble() * total;
            double c = 0;
            int last = best;
            for (int j = 0; j < vocab; j++) {
                if (probs[j] > 0) {
                    c += probs[j];
                    last = j;
                    if (u < c) {
                        return j;
                    }
                }
            }
            return last;
        }
        // Sort ascending by (logit, −id); read from the end: descending logit, lower id first on ties.
        for (int j = 0; j < vocab; j++) {
            int bits = Float.floatToIntBits(logits[off + j]);
            int sortable = bits ^ ((bits >> 31) & 0x7fffffff);
            keys[j] = ((long) sortable << 32) | (vocab - 1 - j);
        }
        Arrays.sort(keys);
        int k = o.topK() > 0 ? Math.min(o.topK(), vocab) : vocab;
        double total = 0;
        for (int r = 0; r < k; r++) {
            int j = idAt(r);
            double q = Math.exp((logits[off + j] - max) * invT);
            probs[r] = q;
            total += q;
        }
        int kept = k;
        if (o.topP() < 1.0) {
            double c = 0;
            for (int r = 0; r < k; r++) {
                c += probs[r];
                if (c >= o.topP() * total) {
                    kept = r + 1;
                    break;
                }
            }
            total = 0;
            for (int r = 0; r < kept; r++) {
                total += probs[r];
            }
        }
        double u = rng.nextDouble() * total;
        double c = 0;
        for (int r = 0; r < kept; r++) {
            c += probs[r];
            if (u < c) {
                return idAt(r);
            }
        }
        return idAt(kept - 1);
    }

    /** The id of the r-th most likely token after the sort. */
    private int idAt(int r) {
        return vocab - 1 - (int) (keys[vocab - 1 - r] & 0xffffffffL);
    }
}
