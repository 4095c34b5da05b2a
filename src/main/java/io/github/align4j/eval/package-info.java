/**
 * Evaluation and studies: sampling completions ({@link io.github.align4j.eval.Generator}), judging
 * them against a reference model ({@link io.github.align4j.eval.Evaluator}, {@link io.github.align4j.eval.Judges}),
 * held-out preference accuracy, and β sweeps over losses ({@link io.github.align4j.eval.Sweep},
 * {@link io.github.align4j.eval.Demo}) written up as a report (HTML, Markdown, CSV). Plots need
 * the optional XChart dependency; without it reports are written without them.
 */
package io.github.align4j.eval;
