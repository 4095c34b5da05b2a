package io.github.align4j.train;

import java.nio.file.Path;
import java.util.Map;

/**
 * Hooks into a {@link PreferenceTrainer} run, like DJL's {@code TrainingListener} or TRL's
 * {@code TrainerCallback}; register with {@link PreferenceTrainer.Builder#listener} (several
 * allowed, called in order, on the training thread). Every method has an empty default.
 * metrics.jsonl and the console progress are listeners of this kind inside the trainer.
 *
 * <p>Metric names are those of metrics.jsonl (TRL's): {@code loss}, {@code rewards/chosen},
 * {@code rewards/rejected}, {@code rewards/accuracies}, {@code rewards/margins},
 * {@code logps/*}, {@code logits/*}, a loss's own metrics (e.g. {@code kl}),
 * {@code learning_rate}, {@code grad_norm}, {@code epoch}, {@code step},
 * {@code tokens_per_second}, {@code elapsed_s}; evaluation metrics carry the {@code eval_} prefix.
 *
 * <p>To stop a run early, keep the trainer from {@link #onTrainBegin} and call
 * {@link PreferenceTrainer#requestStop}: the current step finishes, a checkpoint is written and
 * {@code train()} returns with {@link PreferenceTrainer.TrainResult#stopped()} set. An exception
 * thrown by a listener ends the run (the checkpoints already written stay).
 */
public interface TrainingListener {
    /** Before the first step (after a resume restored its state). */
    default void onTrainBegin(PreferenceTrainer trainer, long totalSteps) {}

    /**
     * After every optimizer step (and its logging, evaluation and checkpoint, which come first):
     * the metrics of this step alone (its micro-batches).
     */
    default void onStepEnd(long step, Map<String, Double> metrics) {}

    /** Every record appended to metrics.jsonl, as written (a logged window, an evaluation, a skipped step). */
    default void onLog(Map<String, Object> record) {}

    /** After an evaluation on the held-out data ({@code eval_*} metrics, {@code epoch}, {@code step}). */
    default void onEvaluate(long step, Map<String, Double> metrics) {}

    /** After a checkpoint folder ({@code checkpoint-N} or {@code final}) was written. */
    default void onCheckpoint(Path path) {}

    /** After the run ended normally or at a stop request. */
    default void onTrainEnd(PreferenceTrainer.TrainResult result) {}
}
