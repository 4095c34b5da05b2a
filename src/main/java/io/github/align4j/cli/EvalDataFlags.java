package io.github.align4j.cli;

import io.github.align4j.data.DataOptions;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** How {@code eval} and {@code generate} read a dataset through the data package. */
final class EvalDataFlags {
    @Option(names = "--format", paramLabel = "LAYOUT",
            description = "The data layout (standard, conversational, orca, openai, sharegpt, ...; default: detected).")
    String format;

    @Option(names = "--columns", paramLabel = "TO=FROM,...", description = "Column renames, e.g. prompt=question,chosen=response_j.")
    String columns;

    @Option(names = "--chat-template", paramLabel = "FILE",
            description = "A Jinja chat template (or a tokenizer_config.json) instead of the tokenizer's.")
    Path chatTemplate;

    @Option(names = "--apply-chat-template", description = "Render plain-text rows through the chat template too (as training did).")
    boolean applyChatTemplate;

    @Option(names = "--cache-dir", paramLabel = "DIR", description = "Cache root: tokenized datasets in DIR/tokenized, "
            + "as train does (default: ~/.cache/align4j).")
    Path cacheDir;

    @Option(names = "--max-line-bytes", paramLabel = "SIZE", defaultValue = "64m",
            description = "Longest row a data file may hold, as bytes or with k/m/g (default: ${DEFAULT-VALUE}).")
    String maxLineBytes = "64m";

    DataOptions options(int maxLength, int maxPromptLength) {
        DataOptions o = DataOptions.defaults().withMaxLength(maxLength).withMaxPromptLength(maxPromptLength)
                .withApplyChatTemplate(applyChatTemplate);
        if (format != null) {
            o = o.withFormat(format);
        }
        if (columns != null) {
            o = o.withColumns(columns);
        }
        if (chatTemplate != null) {
            o = o.withChatTemplateFile(chatTemplate);
        }
        return o.withCacheRoot(cacheDir != null ? cacheDir : DataOptions.cacheRoot()).withMaxLineBytes(DataOptions.parseBytes(maxLineBytes, "--max-line-bytes"));
    }
}
