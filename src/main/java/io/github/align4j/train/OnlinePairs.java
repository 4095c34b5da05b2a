package io.github.align4j.train;

import io.github.align4j.data.TokenizedPair;
import java.util.List;
import java.util.Map;

/**
 * Where an online run's pairs come from: called once per micro-batch, before the gradient collector
 * opens, with the prompts of that micro-batch; it samples completions from the current policy, ranks
 * them and returns one (chosen, rejected) pair per prompt. The eval package's {@code OnlineDpo}
 * implements it with a sampler and a judge; {@link PreferenceTrainer.Builder#online} takes it.
 *
 * <p>A resumable run needs a deterministic source: the same (step, micro-batch, prompts) and the same
 * weights must give the same pairs (derive sampling seeds from them, never from a running counter).
 */
@FunctionalInterface
public interface OnlinePairs {
    /**
     * The pairs of one micro-batch.
     *
     * @param step the 0-based optimizer step
     * @param epoch the 0-based epoch over the prompts
     * @param micro the micro-batch's index within the step (gradient accumulation)
     * @param prompts indices into the run's prompt list, one pair per index, in this order
     */
    Batch pairs(long step, int epoch, int micro, int[] prompts);

    /**
     * One micro-batch's pairs.
     *
     * @param pairs one per prompt, in the order asked for; each completion as the policy sampled it
     *     (with its stop token when it ended at one)
     * @param beta the β of this step's loss (TRL's OnlineDPO takes one per epoch)
     * @param pairScore the mean judge score of the chosen and rejected completions, for
     *     {@code objective/rlhf_reward}; NaN when the judge gives no scores (a pairwise judge)
     * @param metrics the source's own metrics of this micro-batch (e.g. {@code objective/scores},
     *     {@code val/contain_eos_token}), averaged over micro-batches in the log like every metric
     */
    record Batch(List<TokenizedPair> pairs, double beta, double pairScore, Map<String, Double> metrics) {
        public Batch {
            pairs = List.copyOf(pairs);
            metrics = Map.copyOf(metrics);
        }
    }
}
