/**
 * Preference losses over sequence log-probabilities. A loss implements
 * {@link io.github.align4j.loss.PairedLoss} (chosen/rejected pairs) or
 * {@link io.github.align4j.loss.UnpairedLoss} (KTO's desirable/undesirable rows), the two kinds of
 * {@link io.github.align4j.loss.PreferenceLoss}; {@link io.github.align4j.loss.Losses#create} builds a
 * built-in one by its TRL name ({@code dpo}, {@code ipo}, {@code kto}, ...) or a weighted sum.
 */
package io.github.align4j.loss;
