package io.github.align4j.eval;

/**
 * Implicit-reward metrics of a policy against a reference on held-out preference pairs, with the
 * DPO reward {@code r(x, y) = β·(log π(y|x) − log ρ(y|x))}.
 *
 * @param pairs number of pairs
 * @param accuracy share of pairs with r(chosen) − r(rejected) &gt; 0 (strict: a tie is a miss)
 * @param meanMargin mean of r(chosen) − r(rejected)
 * @param meanChosenLogps mean Σ log π of the chosen completions
 * @param meanRejectedLogps mean Σ log π of the rejected completions
 * @param meanChosenReward mean r(chosen)
 * @param meanRejectedReward mean r(rejected)
 */
public record PreferenceEval(int pairs, double accuracy, double meanMargin, double meanChosenLogps, double meanRejectedLogps,
        double meanChosenReward, double meanRejectedReward) {}
