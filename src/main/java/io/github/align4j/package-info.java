/**
 * align4j: preference tuning (DPO, IPO, KTO and relatives) of Hugging Face causal language models
 * on DJL's PyTorch engine.
 *
 * <p>The packages depend one way: {@code cli} on {@code eval}, {@code eval} on {@code train}, and
 * {@code train} on {@link io.github.align4j.loss loss}, {@link io.github.align4j.model model} and
 * {@link io.github.align4j.data data}. The library never prints to the console and never imports
 * {@code cli}. Errors a user can cause (files, configurations, templates, data rows) are thrown as
 * {@link io.github.align4j.Align4jException} with a message that names the file, line or key and how
 * to fix it.
 *
 * <p>The natives are not part of the align4j artifact: a project adds the CPU or the CUDA PyTorch
 * natives to its own build (README, "Use it from Maven"; docs/cuda.md).
 */
package io.github.align4j;
