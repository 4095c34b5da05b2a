/**
 * Hugging Face causal language models on DJL's PyTorch engine: {@link io.github.align4j.model.CausalLM}
 * loads and saves {@code config.json} + safetensors checkpoints (Llama, Mistral, Qwen2, GPT-2),
 * {@link io.github.align4j.model.TextTokenizer} reads {@code tokenizer.json} through DJL's Rust
 * tokenizers, and {@link io.github.align4j.model.SequenceScorer} computes the completion
 * log-probabilities that the losses compare, as TRL does.
 *
 * <p>Every entry point keeps DJL's telemetry off ({@code OPT_OUT_TRACKING}) without overriding a setting
 * the application chose.
 */
package io.github.align4j.model;
