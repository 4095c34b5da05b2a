package io.github.align4j.eval;

/**
 * A policy's completions against a reference's, scored by a {@link Judge}.
 *
 * @param prompts number of prompts
 * @param meanReward mean judge reward of the policy's samples
 * @param referenceMeanReward mean judge reward of the reference's samples
 * @param winRate share of (prompt, sample) comparisons the policy wins, ties counting ½
 * @param winRateLow lower end of the 95% Wilson score interval of the win rate
 * @param winRateHigh upper end of that interval
 * @param klToReference mean over the policy's samples of Σ_t [log π(y_t|·) − log ρ(y_t|·)], a
 *     Monte-Carlo estimate of KL(π‖ρ) per sequence (exact in expectation at temperature 1 with no
 *     top-k/top-p cut; with other sampling options it measures the divergence on those samples)
 */
public record JudgeEval(int prompts, double meanReward, double referenceMeanReward, double winRate, double winRateLow,
        double winRateHigh, double klToReference) {}
