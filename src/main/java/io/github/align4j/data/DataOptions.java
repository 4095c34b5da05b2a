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
 * @param cacheDir where tokenized datasets are cached; null: no cache on disk, unless the system
 *     property {@code align4j.cache} names a cache root (then its {@code tokenized} folder). A
 *     library never writes into the home folder by itself; the command line passes
 *     {@link #defaultCacheDir()} ({@code ~/.cache/align4j/tokenized}) when given no {@code --cache-dir}
 * @param maxLineBytes the longest row, in bytes, a file may hold: a JSON Lines line, a CSV record,
 *     one element of a JSON array, one Parquet row as JSON (default {@link #DEFAULT_MAX_LINE_BYTES},
 *     64 MiB; at most {@link #MAX_LINE_BYTES_LIMIT}). A longer row is a bad row, found without
 *     holding more than this many bytes of it in memory: reading stops there, or, with
 *     {@code skipBadRows}, the row is skipped and counted
 */
public record DataOptions(String format, Map<String, String> columns, int maxLength, int maxPromptLength,
        boolean applyChatTemplate, Path chatTemplateFile, boolean skipBadRows, Path cacheDir, long maxLineBytes) {

    /** 64 MiB: far above any real row, far below what would exhaust memory. */
    public static final long DEFAULT_MAX_LINE_BYTES = 64L << 20;

    /** The largest row Java can hold in one array (just under 2 GiB). */
    public static final long MAX_LINE_BYTES_LIMIT = Integer.MAX_VALUE - 8;

    public DataOptions {
        columns = columns == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(columns));
        if (maxLineBytes < 1 || maxLineBytes > MAX_LINE_BYTES_LIMIT) {
            throw new Align4jException("max line bytes (--max-line-bytes, maxLineBytes): " + maxLineBytes
                    + " is out of range; give 1 to " + MAX_LINE_BYTES_LIMIT + " bytes (2 GiB, the largest row Java "
                    + "can hold), e.g. 256m. The default is 64m.");
        }
    }

    /** As the canonical constructor, with the default {@link #DEFAULT_MAX_LINE_BYTES}. */
    public DataOptions(String format, Map<String, String> columns, int maxLength, int maxPromptLength,
            boolean applyChatTemplate, Path chatTemplateFile, boolean skipBadRows, Path cacheDir) {
        this(format, columns, maxLength, maxPromptLength, applyChatTemplate, chatTemplateFile, skipBadRows, cacheDir,
                DEFAULT_MAX_LINE_BYTES);
    }

    /** Auto-detected layout, no renames, 1024 / 512 tokens (TRL's defaults), no forced template, 64 MiB rows. */
    public static DataOptions defaults() {
        return new DataOptions(null, Map.of(), 1024, 512, false, null, false, null, DEFAULT_MAX_LINE_BYTES);
    }

    /**
     * The command line's cache root: the system property {@code align4j.cache} when set, else
     * {@code ~/.cache/align4j}. Tokenized data lives in its {@code tokenized} folder
     * ({@link #tokenizedCacheDir(Path)}), reference log-probabilities in {@code reference}.
     */
    public static Path cacheRoot() {
        String root = System.getProperty("align4j.cache");
        if (root != null && !root.isBlank()) {
            return Path.of(root);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "align4j");
    }

    /**
     * Where tokenized datasets go under a cache root: {@code root/tokenized}. Every command's
     * {@code --cache-dir DIR} names a root, so {@code inspect}, {@code train}, {@code logprobs},
     * {@code eval} and {@code bench} given the same DIR share one cache.
     */
    public static Path tokenizedCacheDir(Path root) {
        return root.resolve("tokenized");
    }

    /** {@link #tokenizedCacheDir(Path)} of {@link #cacheRoot()}: {@code ~/.cache/align4j/tokenized}. */
    public static Path defaultCacheDir() {
        return tokenizedCacheDir(cacheRoot());
    }

    /** {@link #withCacheDir(Path)} of {@link #tokenizedCacheDir(Path) root/tokenized}; null: no cache dir (see {@link #effectiveCacheDir()}). */
    public DataOptions withCacheRoot(Path root) {
        return withCacheDir(root == null ? null : tokenizedCacheDir(root));
    }

    /**
     * Parses a byte count: a whole number, optionally followed by {@code k}, {@code m} or
     * {@code g} (KiB, MiB, GiB; case and a trailing {@code b}/{@code ib} ignored): {@code 64m},
     * {@code 1g}, {@code 1048576}.
     */
    public static long parseBytes(String spec, String what) {
        String s = spec == null ? "" : spec.strip().toLowerCase(java.util.Locale.ROOT);
        if (s.endsWith("ib")) {
            s = s.substring(0, s.length() - 2);
        } else if (s.endsWith("b")) {
            s = s.substring(0, s.length() - 1);
        }
        int shift = 0;
        if (!s.isEmpty()) {
            switch (s.charAt(s.length() - 1)) {
                case 'k' -> shift = 10;
                case 'm' -> shift = 20;
                case 'g' -> shift = 30;
                default -> shift = 0;
            }
        }
        String digits = shift == 0 ? s : s.substring(0, s.length() - 1).strip();
        try {
            long v = Long.parseLong(digits);
            if (v < 0 || v > (Long.MAX_VALUE >> shift)) {
                throw new NumberFormatException();
            }
            return v << shift;
        } catch (NumberFormatException e) {
            throw new Align4jException(what + ": '" + spec + "' is not a size; write bytes as a whole number, "
                    + "optionally with k, m or g (KiB, MiB, GiB), e.g. 64m");
        }
    }

    /**
     * The cache folder in effect: {@link #cacheDir()}; else {@code align4j.cache}'s
     * {@code tokenized} folder when that system property is set; else null (tokenize in memory,
     * write nothing).
     */
    public Path effectiveCacheDir() {
        if (cacheDir != null) {
            return cacheDir;
        }
        String root = System.getProperty("align4j.cache");
        return root != null && !root.isBlank() ? tokenizedCacheDir(Path.of(root)) : null;
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
                chatTemplateFile, skipBadRows, cacheDir, maxLineBytes);
    }

    public DataOptions withColumns(Map<String, String> v) {
        return new DataOptions(format, v, maxLength, maxPromptLength, applyChatTemplate,
                chatTemplateFile, skipBadRows, cacheDir, maxLineBytes);
    }

    /** {@link #withColumns(Map)} of {@link #parseColumns(String)}. */
    public DataOptions withColumns(String spec) {
        return withColumns(parseColumns(spec));
    }

    public DataOptions withMaxLength(int v) {
        return new DataOptions(format, columns, v, maxPromptLength, applyChatTemplate,
                chatTemplateFile, skipBadRows, cacheDir, maxLineBytes);
    }

    public DataOptions withMaxPromptLength(int v) {
        return new DataOptions(format, columns, maxLength, v, applyChatTemplate,
                chatTemplateFile, skipBadRows, cacheDir, maxLineBytes);
    }

    public DataOptions withApplyChatTemplate(boolean v) {
        return new DataOptions(format, columns, maxLength, maxPromptLength, v,
                chatTemplateFile, skipBadRows, cacheDir, maxLineBytes);
    }

    public DataOptions withChatTemplateFile(Path v) {
        return new DataOptions(format, columns, maxLength, maxPromptLength, applyChatTemplate,
                v, skipBadRows, cacheDir, maxLineBytes);
    }

    public DataOptions withSkipBadRows(boolean v) {
        return new DataOptions(format, columns, maxLength, maxPromptLength, applyChatTemplate,
                chatTemplateFile, v, cacheDir, maxLineBytes);
    }

    public DataOptions withCacheDir(Path v) {
        return new DataOptions(format, columns, maxLength, maxPromptLength, applyChatTemplate,
                chatTemplateFile, skipBadRows, v, maxLineBytes);
    }

    public DataOptions withMaxLineBytes(long v) {
        return new DataOptions(format, columns, maxLength, maxPromptLength, applyChatTemplate,
                chatTemplateFile, skipBadRows, cacheDir, v);
    }

    /** {@code 64 MiB}, {@code 1.5 GiB}, {@code 1000 bytes}: a byte count for messages. */
    static String showBytes(long n) {
        if (n >= (1L << 30) && n % (1L << 30) == 0) {
            return (n >> 30) + " GiB";
        }
        if (n >= (1L << 20) && n % (1L << 20) == 0) {
            return (n >> 20) + " MiB";
        }
        if (n >= (1L << 10) && n % (1L << 10) == 0) {
            return (n >> 10) + " KiB";
        }
        return String.format(java.util.Locale.ROOT, "%,d bytes", n);
    }
}
