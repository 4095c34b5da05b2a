package io.github.align4j.eval;

/**
 * Says which of two completions of one prompt is better, for {@link OnlineDpo}: an LLM judge
 * ({@link LlmPairJudge}) or a rule. Must be deterministic for a resumed run to see the same pairs.
 */
@FunctionalInterface
public interface PairwiseJudge {
    /**
     * @return a positive number when {@code a} is better, negative when {@code b} is, 0 for a tie
     */
    int compare(String prompt, String a, String b);
}
