package io.github.align4j.data;

import io.github.align4j.Align4jException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How a preference dataset is read and turned into token ids.
 *
 * @param format the layout to use ({@code standard}, {@code implicit_prompt}, {@code conversational},
 *     {@code orca}, {@code openai}, {@code sharegpt}, {@code unpaired}, {@code unpaired_messages}),
 *     or null / {@code "auto"} to detect it from the columns of the first row
 * @param columns column renames {@code to -> from} applied to every row before the layout, e.g.
 *     {@code prompt=question, chosen=response_j, rejected=response_k}; a dotted {@code from}
 *     ({@code input.messages}) reaches into objects
 * @param maxLength most tokens of prompt + completion (TRL's {@code max_length}); 0 or less: no limit
 * @param maxPromptLength most prompt tokens once a row is too long (TRL's {@code max_prompt_length}); 0 or less: no limit
 * @param applyChatTemplate also render plain-text rows through the chat template (the prompt as one
 *     user message, each completion as one assistant message); chat-message layouts always are
 * @param chatTemplateFile a Jinja chat template (or a tokenizer_config.json holding
 *     {@code chat_template}) used instead of the tokenizer's; null: the tokenizer's
 * @param skipBadRows skip and count malformed rows instead of stopping at the first
 * @param cacheDir where tokenized datasets are cached; null: {@link #defaultCacheDir()}
 */
public record DataOptions(String format, Map<String, String> columns, int maxLength, int maxPromptLength,
        boolean applyChatTemplate, Path chatTemplateFile, boolean skipBadRows, Path cacheDir) {

    public DataOptions {
        columns = columns == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(columns));
    }

    /** Auto-detected layout, no renames, 1024 / 512 tokens (TRL's defaults), no forced template. */
    public static DataOptions defaults() {
        return new DataOptions(null, Map.of(), 1024, 512, false, null, false, null);
    }

    /**
     * {@code ~/.cache/align4j/tokenized}, or {@code <align4j.cache>/tokenized} when the system
     * property {@code align4j.cache} names align4j's cache root.
     */
    public static Path defaultCacheDir() {
        String root = System.getProperty("align4j.cache");
        if (root != null && !root.isBlank()) {
            return Path.of(root).resolve("tokenized");
        }
        return Path.of(System.getProperty("user.home"), ".cache", "align4j", "tokenized");
    }

    /** The cache folder in effect: {@link #cacheDir()} or {@link #defaultCacheDir()}. */
    public Path effectiveCacheDir() {
        return cacheDir != null ? cacheDir : defaultCacheDir();
    }

    /**
     * Parses {@code "prompt=question,chosen=response_j"} ({@code to=from} pairs, comma-separated).
     */
    public static Map<String, String> parseColumns(String spec) {
        Map<String, String> out = new LinkedHashMap<>();
        if (spec == null || spec.isBlank()) {
            return out;
        }
        for (String part : spec.split(",")) {
            String p = part.strip();
            if (p.isEmpty()) {
                continue;
            }
            int eq = p.indexOf('=');
            if (eq <= 0 || eq == p.length() - 1) {
                throw new Align4jException("columns: '" + p + "' is not to=from; write e.g. "
                        + "prompt=question,chosen=response_j,rejected=response_k");
            }
            out.put(p.substring(0, eq).strip(), p.substring(eq + 1).strip());
        }
        return out;
    }

    public DataOptions withFormat(String v) {
        return new DataOptions(v, columns, maxLength, maxPromptLength, applyChatTemplate,
                chatTemplateFile, skipBadRows, cacheDir);
    }

    public DataOptions withColumns(Map<String, String> v) {
        return new DataOptions(format, v, maxLength, maxPromptLength, applyChatTemplate,
                chatTemplateFile, skipBadRows, cacheDir);
    }

    /** {@link #withColumns(Map)} of {@link #parseColumns(String)}. */
    public DataOptions withColumns(String spec) {
        return withColumns(parseColumns(spec));
    }

    public DataOptions withMaxLength(int v) {
        return new DataOptions(format, columns, v, maxPromptLength, applyChatTemplate,
                chatTemplateFile, skipBadRows, cacheDir);
    }

    public DataOptions withMaxPromptLength(int v) {
        return new DataOptions(format, columns, maxLength, v, applyChatTemplate,
                chatTemplateFile, skipBadRows, cacheDir);
    }

    public DataOptions withApplyChatTemplate(boolean v) {
        return new DataOptions(format, columns, maxLength, maxPromptLength, v,
                chatTemplateFile, skipBadRows, cacheDir);
    }

    public DataOptions withChatTemplateFile(Path v) {
        return new DataOptions(format, columns, maxLength, maxPromptLength, applyChatTemplate,
                v, skipBadRows, cacheDir);
    }

    public DataOptions withSkipBadRows(boolean v) {
        return new DataOptions(format, columns, maxLength, maxPromptLength, applyChatTemplate,
                chatTemplateFile, v, cacheDir);
    }

    public DataOptions withCacheDir(Path v) {
        return new DataOptions(format, columns, maxLength, maxPromptLength, applyChatTemplate,
                chatTemplateFile, skipBadRows, v);
    }
}
