package io.github.align4j.cli;

import io.github.align4j.data.DataOptions;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The options of every command that reads preference data ({@code logprobs} now; {@code train},
 * {@code eval} later): add {@code @Mixin DataArgs dataArgs;} and call {@link #toOptions()}.
 * Defaults are {@link DataOptions#defaults()} (TRL's: 1024 / 512 tokens).
 */
final class DataArgs {
    @Option(names = "--format", paramLabel = "LAYOUT", defaultValue = "auto",
            description = "Row layout: auto (default: detected from the first row), standard, implicit_prompt, "
                    + "conversational, orca, openai, sharegpt, unpaired, unpaired_messages.")
    String format;

    @Option(names = "--columns", paramLabel = "TO=FROM,...",
            description = "Rename columns first, e.g. prompt=question,chosen=response_j,rejected=response_k.")
    String columns;

    @Option(names = "--max-length", defaultValue = "1024", paramLabel = "N",
            description = "Most tokens of prompt + completion (TRL's max_length; default: ${DEFAULT-VALUE}; 0: no limit).")
    int maxLength;

    @Option(names = "--max-prompt-length", defaultValue = "512", paramLabel = "N",
            description = "Most prompt tokens, kept from the end, once a row is too long "
                    + "(TRL's max_prompt_length; default: ${DEFAULT-VALUE}; 0: no limit).")
    int maxPromptLength;

    @Option(names = "--apply-chat-template",
            description = "Render plain-text rows through the chat template too (chat-message rows always are).")
    boolean applyChatTemplate;

    @Option(names = "--chat-template", paramLabel = "FILE",
            description = "A Jinja template (or a tokenizer_config.json) to use instead of the tokenizer's.")
    Path chatTemplate;

    @Option(names = "--skip-bad-rows", description = "Skip and count malformed rows instead of stopping at the first.")
    boolean skipBadRows;

    @Option(names = "--max-line-bytes", paramLabel = "SIZE", defaultValue = "64m",
            description = "Longest row a data file may hold (a JSON Lines line, a CSV record, a JSON array element), "
                    + "as bytes or with k/m/g (default: ${DEFAULT-VALUE}; at most 2047m). A longer row is a bad row.")
    String maxLineBytes = "64m";

    @Option(names = "--cache-dir", paramLabel = "DIR",
            description = "Cache root: tokenized datasets in DIR/tokenized, as train does (default: ~/.cache/align4j).")
    Path cacheDir;

    DataOptions toOptions() {
        return new DataOptions("auto".equals(format) ? null : format, DataOptions.parseColumns(columns), maxLength,
                maxPromptLength, applyChatTemplate, chatTemplate, skipBadRows, null,
                DataOptions.parseBytes(maxLineBytes, "--max-line-bytes")).withCacheRoot(cacheDir != null ? cacheDir : DataOptions.cacheRoot());
    }
}
