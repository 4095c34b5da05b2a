package io.github.align4j.train;

/**
 * The data and its limits, the one place the run's lengths are set.
 *
 * @param trainFile {@code train_file} ("" when the data is given as objects)
 * @param evalFile {@code eval_file} ("" : none)
 * @param evalSplit {@code eval_split}: the fraction of the training data held out when there is no eval file
 * @param maxLength {@code max_length}: prompt + completion tokens (0: no limit)
 * @param maxPromptLength {@code max_prompt_length}: prompt tokens, cut from the left (0: no limit)
 * @param chatTemplate {@code chat_template}: a file with a Jinja chat template ("" : the tokenizer's)
 * @param applyChatTemplate {@code apply_chat_template}: wrap plain-text rows in the chat template
 */
public record DataSpec(String trainFile, String evalFile, double evalSplit, int maxLength, int maxPromptLength,
        String chatTemplate, boolean applyChatTemplate) {}
