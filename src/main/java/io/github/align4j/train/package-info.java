/**
 * Training: {@link io.github.align4j.train.PreferenceTrainer} tunes a policy against a frozen
 * reference with any {@link io.github.align4j.loss.PreferenceLoss} (checkpoints, resume, evaluation,
 * {@code metrics.jsonl}), {@link io.github.align4j.train.SftTrainer} runs supervised fine-tuning,
 * and {@link io.github.align4j.train.TrainConfig} holds the settings under TRL's names. Only one
 * training may run at a time in a JVM (DJL allows one gradient collector).
 */
package io.github.align4j.train;
