package io.github.align4j.data;

/**
 * One preference pair as the model sees it, after the chat template, tokenization and truncation.
 * Following TRL's DPOTrainer for decoder-only models, prompt and completions are tokenized
 * separately with no special tokens added, and each completion ends with the EOS id.
 *
 * @param prompt prompt token ids (cut from the left to {@code max_prompt_length})
 * @param chosen chosen completion ids, EOS last (cut from the right)
 * @param rejected rejected completion ids, EOS last
 * @param row the 0-based index of the source row in its file (for error reports and logs)
 */
public record TokenizedPair(int[] prompt, int[] chosen, int[] rejected, long row) {}
