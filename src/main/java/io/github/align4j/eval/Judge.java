package io.github.align4j.eval;

/**
 * Scores one completion of one prompt, for {@link Evaluator#judge}: a programmatic reward of a
 * built-in task, a reward model, or a rule.
 */
@FunctionalInterface
public interface Judge {
    /** A reward of one completion for one prompt (higher is better); must be deterministic. */
    double score(String prompt, String completion);
}
