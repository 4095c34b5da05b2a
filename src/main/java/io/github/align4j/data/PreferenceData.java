package io.github.align4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.TextTokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.IntStream;

/**
 * A preference dataset exactly as the trainer sees it: read from files, laid out, rendered
 * through the chat template, tokenized and truncated as TRL's DPOTrainer does for decoder-only
 * models.
 *
 * <p><b>Files.</b> JSON Lines, a JSON array, CSV (header row, RFC 4180) or Parquet (through
 * DuckDB's JDBC driver, an optional dependency), each text format optionally gzip-compressed
 * (recognised by its magic bytes). A folder or a glob ({@code data/*.jsonl}) reads as one dataset,
 * files in sorted path order. Rows are streamed. Errors name the file and the 1-based line (JSON
 * Lines, CSV) or the 0-based row (JSON array, Parquet).
 *
 * <p><b>Layouts</b> are detected from the columns of the first row (see {@link DataOptions#format()}
 * and {@link Layouts}); every row must then fit that layout.
 *
 * <p><b>Chat template.</b> Chat-message layouts ({@code conversational}, {@code orca},
 * {@code openai}, {@code sharegpt}, {@code unpaired_messages}, and {@code unpaired} rows holding
 * messages) always go through the chat template; plain-text rows are used as they are unless
 * {@link DataOptions#applyChatTemplate()}. As in TRL, the prompt text is the template applied to
 * the prompt messages with {@code add_generation_prompt=true}; each completion text is the
 * template applied to prompt + completion messages without it, with the prompt text removed from
 * its front (a row where the rendered prompt is not such a prefix is a bad row).
 *
 * <p><b>Tokens.</b> Prompt and completions are tokenized separately without special tokens; the
 * EOS id is appended to every completion; BOS is never added (unless the template writes it).
 * Then {@link Truncation}: when prompt + longest completion exceeds {@code maxLength}, the prompt
 * is cut from the left to {@code maxPromptLength} and the completions from the right to what is
 * left. Rows whose prompt alone reaches {@code maxLength} ({@code prompt_too_long}) or with an
 * empty completion ({@code empty_completion}) are dropped and counted.
 *
 * <p><b>Cache.</b> The result is cached on disk under {@link DataOptions#effectiveCacheDir()},
 * keyed by {@link #fingerprint()}: a SHA-256 of the data files' bytes, the tokenizer files' bytes,
 * the template and every option that changes the output.
 */
public final class PreferenceData {
    private static final int BATCH = 1024;
    private static final int MAX_MESSAGES = 10;

    private final String layout;
    private final boolean paired;
    private final List<Example> examples;
    private final DataStats stats;
    private final String fingerprint;
    private final List<Path> files;
    private final boolean fromCache;
    private final TokenizerHandle tokenizer;
    private final DataOptions options;
    private final String templateSource;
    private final boolean chat;

    private PreferenceData(String layout, boolean paired, boolean chat, List<Example> examples, DataStats stats,
            String fingerprint, List<Path> files, boolean fromCache, TokenizerHandle tokenizer, DataOptions options,
            String templateSource) {
        this.layout = layout;
        this.paired = paired;
        this.examples = Collections.unmodifiableList(examples);
        this.stats = stats;
        this.fingerprint = fingerprint;
        this.files = files;
        this.fromCache = fromCache;
        this.tokenizer = tokenizer;
        this.options = options;
        this.templateSource = templateSource;
        this.chat = chat;
    }

    /**
     * Reads, renders, tokenizes and truncates a dataset, or takes it from the cache.
     *
     * @param pathOrGlob a file, a folder of files, or a glob such as {@code data/train-*.parquet}
     * @param options how to read it ({@link DataOptions#defaults()})
     * @param tokenizer the model's tokenizer (its chat template and EOS are used)
     * @throws Align4jException for a bad row (unless {@code skipBadRows}), a missing template or
     *     EOS, an unreadable file, or when no row is left
     */
    public static PreferenceData load(String pathOrGlob, DataOptions options, TextTokenizer tokenizer) {
        Offline.ensure();
        if (options == null) {
            options = DataOptions.defaults();
        }
        String format = Layouts.checkFormat(options.format());
        List<Path> files = Sources.resolve(pathOrGlob);
        Integer eos = tokenizer.eosId();
        if (eos == null) {
            throw new Align4jException(tokenizerConfig(tokenizer) + ": the tokenizer has no EOS token, and an EOS id "
                    + "is appended to every completion. Set \"eos_token\" in tokenizer_config.json (or pass the model's "
                    + "eos_token_id when loading the tokenizer).");
        }
        String[] template = template(options, tokenizer);
        String fp = TokenCache.fingerprint(files, tokenizer, template == null ? null : template[0], options, format,
                eos);
        Path cacheDir = options.effectiveCacheDir();
        Path cacheFile = cacheDir == null ? null : TokenCache.file(cacheDir, fp);
        TokenCache.Content cached = cacheFile == null ? null : TokenCache.read(cacheFile, fp);
        String source = template == null ? null : template[1];
        if (cached != null) {
            return new PreferenceData(cached.layout(), cached.paired(), cached.chat(), cached.examples(),
                    cached.stats(), fp, files, true, new TokenizerHandle(tokenizer), options, source);
        }
        Loader l = new Loader(pathOrGlob, files, options, format, tokenizer, eos, template);
        l.run();
        TokenCache.Content content = new TokenCache.Content(l.layout, Layouts.paired(l.layout), l.usedChat.get(),
                l.stats(), l.examples);
        if (cacheFile != null) {
            TokenCache.write(cacheFile, fp, content);
        }
        return new PreferenceData(l.layout, content.paired(), content.chat(), l.examples, content.stats(), fp, files,
                false, new TokenizerHandle(tokenizer), options, source);
    }

    private static String tokenizerConfig(TextTokenizer t) {
        return t.dir() == null ? "tokenizer_config.json" : t.dir().resolve("tokenizer_config.json").toString();
    }

    /** {text, where it came from} or null. */
    private static String[] template(DataOptions o, TextTokenizer t) {
        Path f = o.chatTemplateFile();
        if (f != null) {
            String text;
            try {
                text = Files.readString(f, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new Align4jException(f + ": cannot read the chat template file: " + Sources.ioProblem(e), e);
            }
            if (f.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".json")) {
                JsonNode n;
                try {
                    n = Sources.JSON.readTree(text);
                } catch (IOException e) {
                    throw new Align4jException(e instanceof com.fasterxml.jackson.core.JsonProcessingException j
                            ? io.github.align4j.internal.Texts.jsonError(f + ": not valid JSON", j) : f + ": cannot read: " + e.getMessage(), e);
                }
                JsonNode c = n == null ? null : n.get("chat_template");
                if (c != null && c.isArray()) {
                    JsonNode pick = null;
                    for (JsonNode x : c) {
                        if ("default".equals(x.path("name").asText())) {
                            pick = x;
                        }
                    }
                    c = (pick != null ? pick : c.path(0)).get("template");
                }
                if (c == null || !c.isTextual()) {
                    throw new Align4jException(f + ": expected a JSON object with a \"chat_template\" string (like "
                            + "tokenizer_config.json), or give the Jinja template itself in a .jinja file.");
                }
                text = c.asText();
            }
            if (text.isBlank()) {
                throw new Align4jException(f + ": the chat template file is empty.");
            }
            return new String[] {text, f.toString()};
        }
        if (t.chatTemplate() != null) {
            return new String[] {t.chatTemplate(), tokenizerConfig(t)};
        }
        return null;
    }

    // ---------------------------------------------------------------- accessors

    /** The layout name: {@code standard}, {@code implicit_prompt}, {@code conversational}, ... */
    public String layout() {
        return layout;
    }

    /** True for preference pairs, false for unpaired (KTO) examples. */
    public boolean paired() {
        return paired;
    }

    /** Number of examples (pairs or unpaired examples). */
    public int size() {
        return examples.size();
    }

    /**
     * The pairs, as token ids the trainer uses. The arrays are shared: do not modify them.
     *
     * @throws IllegalStateException for unpaired data
     */
    public List<TokenizedPair> pairs() {
        if (!paired) {
            throw new IllegalStateException("unpaired data (layout " + layout + ") has no pairs");
        }
        List<TokenizedPair> out = new ArrayList<>(examples.size());
        for (Example e : examples) {
            out.add(new TokenizedPair(e.prompt(), e.chosen(), e.rejected(), e.text().row()));
        }
        return Collections.unmodifiableList(out);
    }

    /**
     * The unpaired examples. The arrays are shared: do not modify them.
     *
     * @throws IllegalStateException for pairs: call {@link #toUnpaired(long)} first
     */
    public List<TokenizedUnpaired> unpaired() {
        if (paired) {
            throw new IllegalStateException("paired data: call toUnpaired(seed) to get unpaired examples");
        }
        List<TokenizedUnpaired> out = new ArrayList<>(examples.size());
        for (Example e : examples) {
            out.add(new TokenizedUnpaired(e.prompt(), e.chosen(), e.text().desirable(), e.text().row()));
        }
        return Collections.unmodifiableList(out);
    }

    /** The rendered texts of every example, parallel to {@link #pairs()} / {@link #unpaired()}. */
    public List<RenderedExample> texts() {
        List<RenderedExample> out = new ArrayList<>(examples.size());
        for (Example e : examples) {
            out.add(e.text());
        }
        return Collections.unmodifiableList(out);
    }

    public DataStats stats() {
        return stats;
    }

    /** The cache key: SHA-256 (hex) of the data, tokenizer, template and options; derived sets get their own. */
    public String fingerprint() {
        return fingerprint;
    }

    /** The files read, in order. */
    public List<Path> files() {
        return files;
    }

    /** True when this came from the on-disk cache instead of being tokenized. */
    public boolean fromCache() {
        return fromCache;
    }

    /** Where the chat template came from (a file path), or null when none was available. */
    public String templateSource() {
        return templateSource;
    }

    /** True when the texts went through the chat template. */
    public boolean chat() {
        return chat;
    }

    List<Example> examples() {
        return examples;
    }

    TokenizerHandle tokenizer() {
        return tokenizer;
    }

    DataOptions options() {
        return options;
    }

    // ---------------------------------------------------------------- derived sets

    /**
     * Unpaired (KTO) examples from pairs: each pair gives a desirable example (prompt + chosen)
     * and an undesirable one (prompt + rejected). The desirable and the undesirable examples are
     * each shuffled with {@code seed}, then interleaved one of each at a time (which comes first
     * drawn at random), so every two consecutive examples starting at an even position hold both
     * labels and any micro-batch of two or more mixes them. Each example is truncated on its own,
     * as TRL does after unpairing. Unpaired data is returned as it is.
     */
    public PreferenceData toUnpaired(long seed) {
        if (!paired) {
            return this;
        }
        int n = examples.size();
        Example[] good = new Example[n];
        Example[] bad = new Example[n];
        tokenizer.apply(tok -> { // re-tokenizes truncated pairs; works after the caller closed its tokenizer
            IntStream.range(0, n).parallel().forEach(i -> {
                good[i] = unpair(examples.get(i), true, tok);
                bad[i] = unpair(examples.get(i), false, tok);
            });
            return null;
        });
        Random rng = new Random(seed);
        List<Example> g = new ArrayList<>(List.of(good));
        List<Example> b = new ArrayList<>(List.of(bad));
        Collections.shuffle(g, rng);
        Collections.shuffle(b, rng);
        List<Example> out = new ArrayList<>(2 * n);
        long truncated = 0;
        for (int i = 0; i < n; i++) {
            boolean goodFirst = rng.nextBoolean();
            out.add(goodFirst ? g.get(i) : b.get(i));
            out.add(goodFirst ? b.get(i) : g.get(i));
        }
        for (Example e : out) {
            truncated += e.text().truncated() ? 1 : 0;
        }
        return new PreferenceData(layout, false, chat, out, stats.withKept(out.size(), truncated),
                derive("unpaired", Long.toString(seed)), files, fromCache, tokenizer, options, templateSource);
    }

    private Example unpair(Example e, boolean desirable, TextTokenizer tokenizer) {
        RenderedExample t = e.text();
        String completion = desirable ? t.chosen() : t.rejected();
        int[] ids = desirable ? e.chosen() : e.rejected();
        if (!t.truncated()) {
            return new Example(new RenderedExample(t.row(), t.prompt(), completion, null, desirable, 0, 0, 0,
                    t.metadata()), e.prompt(), ids, null);
        }
        // the pair was cut for its longer completion; cut this example for itself
        int[] p = tokenizer.encode(t.prompt());
        int[] c = withEos(tokenizer.encode(completion), tokenizer.eosId());
        Truncation.Result r = Truncation.apply(p, new int[][] {c}, options.maxLength(), options.maxPromptLength());
        if (r == null) { // cannot happen: the pair's prompt fitted
            return new Example(new RenderedExample(t.row(), t.prompt(), completion, null, desirable, t.promptCut(),
                    desirable ? t.chosenCut() : t.rejectedCut(), 0, t.metadata()), e.prompt(), ids, null);
        }
        return new Example(new RenderedExample(t.row(), t.prompt(), completion, null, desirable, r.promptCut(),
                r.completionCuts()[0], 0, t.metadata()), r.prompt(), r.completions()[0], null);
    }

    /**
     * A seeded held-out split by source row: {@code round(evalFraction * rows)} rows (at least
     * one, and at least one left for training) go to the eval set; both keep the original order.
     * Both examples of an unpaired pair stay on the same side.
     *
     * @return {train, eval}
     */
    public PreferenceData[] split(double evalFraction, long seed) {
        if (!(evalFraction > 0 && evalFraction < 1)) {
            throw new Align4jException("eval_split must be a fraction between 0 and 1 (exclusive), got " + evalFraction);
        }
        Set<Long> rowSet = new LinkedHashSet<>();
        for (Example e : examples) {
            rowSet.add(e.text().row());
        }
        List<Long> rows = new ArrayList<>(rowSet);
        if (rows.size() < 2) {
            throw new Align4jException("Cannot hold out " + evalFraction + " of " + rows.size()
                    + " row(s): at least two rows are needed; give a separate eval file.");
        }
        int nEval = (int) Math.round(evalFraction * rows.size());
        nEval = Math.max(1, Math.min(rows.size() - 1, nEval));
        Collections.shuffle(rows, new Random(seed));
        Set<Long> eval = new HashSet<>(rows.subList(0, nEval));
        List<Example> tr = new ArrayList<>();
        List<Example> ev = new ArrayList<>();
        for (Example e : examples) {
            (eval.contains(e.text().row()) ? ev : tr).add(e);
        }
        String tag = evalFraction + ":" + seed;
        return new PreferenceData[] {
            new PreferenceData(layout, paired, chat, tr, stats.withKept(tr.size(), countTruncated(tr)),
                    derive("train", tag), files, fromCache, tokenizer, options, templateSource),
            new PreferenceData(layout, paired, chat, ev, stats.withKept(ev.size(), countTruncated(ev)),
                    derive("eval", tag), files, fromCache, tokenizer, options, templateSource)
        };
    }

    private static long countTruncated(List<Example> ex) {
        return ex.stream().filter(e -> e.text().truncated()).count();
    }

    private String derive(String op, String arg) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update((fingerprint + "|" + op + "|" + arg).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static int[] withEos(int[] ids, int eos) {
        int[] out = java.util.Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = eos;
        return out;
    }

    // ---------------------------------------------------------------- loading

    /** One row's fate. */
    private record Outcome(Example example, String drop, String bad) {}

    private static final class Loader {
        private final String pathOrGlob;
        private final List<Path> files;
        private final DataOptions o;
        private final TextTokenizer tok;
        private final int eos;
        private final String[] template;
        private final ThreadLocal<ChatTemplate> chat;
        private final Layouts.Columns cols;
        private String layout;
        private final List<RawRow> batch = new ArrayList<>(BATCH);
        final List<Example> examples = new ArrayList<>();
        private long rowsRead;
        private long truncated;
        private final Map<String, Long> dropped = new TreeMap<>();
        private final List<String> badMessages = new ArrayList<>();
        final java.util.concurrent.atomic.AtomicBoolean usedChat = new java.util.concurrent.atomic.AtomicBoolean();

        Loader(String pathOrGlob, List<Path> files, DataOptions o, String format, TextTokenizer tok, int eos,
                String[] template) {
            this.pathOrGlob = pathOrGlob;
            this.files = files;
            this.o = o;
            this.tok = tok;
            this.eos = eos;
            this.template = template;
            this.layout = format;
            this.cols = new Layouts.Columns(o.columns());
            this.chat = template == null ? null
                    : ThreadLocal.withInitial(() -> ChatTemplate.of(template[0], tok.specialTokens(), template[1]));
        }

        void run() {
            Sources.read(files, Sources.Limits.of(o), r -> {
                batch.add(r);
                if (batch.size() >= BATCH) {
                    flush();
                }
            });
            flush();
            if (layout == null) {
                throw new Align4jException(pathOrGlob + ": the dataset has no rows"
                        + (rowsRead > 0 ? " that could be read (" + rowsRead + " bad rows)" : "") + ".");
            }
            if (examples.isEmpty()) {
                StringBuilder sb = new StringBuilder(pathOrGlob + ": no usable rows: " + rowsRead + " read, dropped "
                        + dropped + ".");
                if (dropped.containsKey("prompt_too_long")) {
                    sb.append(" Prompts reach max_length (").append(o.maxLength())
                            .append(" tokens): raise max_length or lower max_prompt_length.");
                }
                if (!badMessages.isEmpty()) {
                    sb.append(" First bad row: ").append(badMessages.get(0));
                }
                throw new Align4jException(sb.toString());
            }
        }

        DataStats stats() {
            long bad = dropped.getOrDefault("bad_row", 0L);
            return new DataStats(rowsRead, examples.size(), dropped, bad, truncated, badMessages);
        }

        private void flush() {
            if (batch.isEmpty()) {
                return;
            }
            if (layout == null) {
                for (RawRow r : batch) {
                    if (r.node() == null) {
                        if (!o.skipBadRows()) {
                            throw badRow(r.at() + ": " + r.error());
                        }
                        continue;
                    }
                    layout = Layouts.detect(cols.apply(r.node()), cols, r);
                    break;
                }
            }
            if (layout != null && template == null && (Layouts.CHAT.contains(layout) || o.applyChatTemplate())) {
                throw noTemplate(batch.get(0));
            }
            RawRow[] rows = batch.toArray(new RawRow[0]);
            batch.clear();
            Outcome[] out = new Outcome[rows.length];
            IntStream.range(0, rows.length).parallel().forEach(i -> out[i] = process(rows[i]));
            for (Outcome oc : out) {
                rowsRead++;
                if (oc.bad() != null) {
                    if (!o.skipBadRows()) {
                        throw badRow(oc.bad());
                    }
                    dropped.merge("bad_row", 1L, Long::sum);
                    if (badMessages.size() < MAX_MESSAGES) {
                        badMessages.add(oc.bad());
                    }
                } else if (oc.drop() != null) {
                    dropped.merge(oc.drop(), 1L, Long::sum);
                } else {
                    examples.add(oc.example());
                    if (oc.example().text().truncated()) {
                        truncated++;
                    }
                }
            }
        }

        private static Align4jException badRow(String message) {
            return new Align4jException(message + ". Fix the row, or skip and count bad rows with --skip-bad-rows "
                    + "(DataOptions.withSkipBadRows).");
        }

        private Align4jException noTemplate(RawRow r) {
            String dir = tok.dir() == null ? "the tokenizer" : tok.dir().toString();
            return new Align4jException(r.at() + ": layout '" + layout + "' "
                    + (Layouts.CHAT.contains(layout) ? "holds chat messages, which" : "with apply_chat_template")
                    + " need a chat template, but the model folder " + dir + " has none (no \"chat_template\" in its "
                    + "tokenizer_config.json). Give one with --chat-template FILE (a Jinja template, or a "
                    + "tokenizer_config.json that has one).");
        }

        private Outcome process(RawRow r) {
            if (r.node() == null) {
                return new Outcome(null, null, r.at() + ": " + r.error());
            }
            Layouts.Parsed p;
            try {
                p = Layouts.parse(layout, cols.apply(r.node()), cols, r.fromCsv());
            } catch (Layouts.BadRow e) {
                return new Outcome(null, null, r.at() + ", " + e.getMessage());
            }
            boolean useChat = p.chat() || o.applyChatTemplate();
            String promptText;
            String[] comps = new String[p.rejected() == null ? 1 : 2];
            Object[] compSrc = p.rejected() == null ? new Object[] {p.chosen()} : new Object[] {p.chosen(), p.rejected()};
            String[] compField = {p.chosenField(), p.rejectedField()};
            if (useChat) {
                if (chat == null) {
                    throw noTemplate(r);
                }
                ChatTemplate t = chat.get();
                usedChat.set(true);
                List<Message> pm = asMessages(p.prompt(), "user");
                if (pm.isEmpty()) {
                    return new Outcome(null, null, r.at() + ", field " + cols.show(p.promptField())
                            + ": expected a non-empty list of prompt messages, got an empty list");
                }
                try {
                    promptText = t.render(pm, true);
                } catch (RuntimeException e) {
                    return new Outcome(null, null, r.at() + ", field " + cols.show(p.promptField())
                            + ": the chat template (" + template[1] + ") rejects the prompt messages: " + e.getMessage());
                }
                for (int i = 0; i < comps.length; i++) {
                    List<Message> cm = asMessages(compSrc[i], "assistant");
                    if (cm.stream().allMatch(m -> m.content() == null || m.content().isEmpty())) {
                        return new Outcome(null, "empty_completion", null);
                    }
                    List<Message> all = new ArrayList<>(pm.size() + cm.size());
                    all.addAll(pm);
                    all.addAll(cm);
                    String full;
                    try {
                        full = t.render(all, false);
                    } catch (RuntimeException e) {
                        return new Outcome(null, null, r.at() + ", field " + cols.show(compField[i])
                                + ": the chat template (" + template[1] + ") rejects the conversation: " + e.getMessage());
                    }
                    if (!full.startsWith(promptText)) {
                        return new Outcome(null, null, r.at() + ", field " + cols.show(compField[i])
                                + ": expected the rendered prompt (template with add_generation_prompt=true) to be the "
                                + "start of the rendered prompt + completion, but the chat template renders the prompt "
                                + "differently when a completion follows, so the completion cannot be split off; use a "
                                + "template whose generation prompt is a prefix of the assistant turn");
                    }
                    comps[i] = full.substring(promptText.length());
                }
            } else {
                promptText = (String) p.prompt();
                for (int i = 0; i < comps.length; i++) {
                    comps[i] = (String) compSrc[i];
                }
            }
            if (promptText.isEmpty()) {
                return new Outcome(null, null, r.at() + ", field " + cols.show(p.promptField())
                        + ": expected a non-empty prompt, got an empty string");
            }
            int[] pids = tok.encode(promptText);
            int[][] cids = new int[comps.length][];
            for (int i = 0; i < comps.length; i++) {
                int[] ids = tok.encode(comps[i]);
                if (ids.length == 0) {
                    return new Outcome(null, "empty_completion", null);
                }
                cids[i] = withEos(ids, eos);
            }
            Truncation.Result t = Truncation.apply(pids, cids, o.maxLength(), o.maxPromptLength());
            if (t == null) {
                return new Outcome(null, "prompt_too_long", null);
            }
            int[] cuts = t.completionCuts();
            RenderedExample text = new RenderedExample(r.index(), promptText, comps[0], comps.length > 1 ? comps[1] : null,
                    p.label(), t.promptCut(), cuts[0], cuts.length > 1 ? cuts[1] : 0, p.meta());
            int[][] c = t.completions();
            return new Outcome(new Example(text, t.prompt(), c[0], c.length > 1 ? c[1] : null), null, null);
        }

        @SuppressWarnings("unchecked")
        private static List<Message> asMessages(Object o, String role) {
            if (o instanceof String s) {
                return List.of(new Message(role, s));
            }
            return (List<Message>) o;
        }
    }

    @Override
    public String toString() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("layout", layout);
        m.put("paired", paired);
        m.put("examples", examples.size());
        m.put("files", files.size());
        return "PreferenceData" + m;
    }
}
