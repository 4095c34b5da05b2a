package io.github.align4j.train;

import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.internal.SequenceLimits;
import java.util.List;

/**
 * Checks training and eval data against the model before the first step: no sequence longer than
 * the model's positions (naming the row and the key that truncates), and the longest micro-batch's
 * attention must fit in memory ({@link SequenceLimits}).
 */
final class Lengths {
    private Lengths() {}

    /**
     * @param pairs paired data, or null
     * @param unpaired unpaired data, or null
     * @param which "training" or "eval", named in messages
     * @param batch examples per micro-batch (a pair scores two sequences)
     * @param training whether the batch is scored with gradients
     */
    static void check(CausalLM model, List<TokenizedPair> pairs, List<TokenizedUnpaired> unpaired, String which,
            int batch, boolean training) {
        int longest = 0;
        if (pairs != null) {
            for (TokenizedPair p : pairs) {
                int n = p.prompt().length + Math.max(p.chosen().length, p.rejected().length);
                check(model, n, which, p.row());
                longest = Math.max(longest, n);
            }
        }
        if (unpaired != null) {
            for (TokenizedUnpaired u : unpaired) {
                int n = u.prompt().length + u.completion().length;
                check(model, n, which, u.row());
                longest = Math.max(longest, n);
            }
        }
        long rows = (long) Math.max(1, batch) * (pairs != null ? 2 : 1);
        SequenceLimits.checkMemory(model, rows, longest, training, "lower " + (training ? "per_device_train_batch_size"
                : "per_device_eval_batch_size") + " or max_length (the longest " + which + " sequence has " + longest
                + " tokens)");
    }

    private static void check(CausalLM model, int tokens, String which, long row) {
        SequenceLimits.checkLength(model.config(), tokens, "the " + which + " data's row " + row + " (0-based)",
                "set max_length (--max-length) to " + model.config().maxPositions() + " or less to truncate it");
    }
}
