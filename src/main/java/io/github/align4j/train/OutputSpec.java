package io.github.align4j.train;

/**
 * Where the run writes, and how often.
 *
 * @param dir {@code output_dir} ("" : nothing is written)
 * @param loggingSteps {@code logging_steps}
 * @param evalSteps {@code eval_steps} (0: at the end only)
 * @param saveSteps {@code save_steps} (0: only {@code final/})
 * @param saveTotalLimit {@code save_total_limit} (0: keep all checkpoints)
 * @param maxNonfiniteSteps {@code max_nonfinite_steps}: stop after this many non-finite steps in a row
 */
public record OutputSpec(String dir, int loggingSteps, int evalSteps, int saveSteps, int saveTotalLimit,
        int maxNonfiniteSteps) {}
