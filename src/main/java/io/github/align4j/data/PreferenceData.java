package io.github.align4j.data;

import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.TextTokenizer;
import java.nio.charset.StandardCharsets;
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
            throw new Align4jException(TokenizingPipeline.tokenizerConfig(tokenizer) + ": the tokenizer has no EOS token, and an EOS id "
                    + "is appended to every completion. Set \"eos_token\" in tokenizer_config.json (or pass the model's "
                    + "eos_token_id when loading the tokenizer).");
        }
        String[] template = TokenizingPipeline.template(options, tokenizer);
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
        TokenizingPipeline l = new TokenizingPipeline(pathOrGlob, files, options, format, tokenizer, eos, template);
        l.run();
        TokenCache.Content content = new TokenCache.Content(l.layout(), Layouts.paired(l.layout()), l.usedChat.get(),
                l.stats(), l.examples);
        if (cacheFile != null) {
            TokenCache.write(cacheFile, fp, content);
        }
        return new PreferenceData(l.layout(), content.paired(), content.chat(), l.examples, content.stats(), fp, files,
                false, new TokenizerHandle(tokenizer), options, source);
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
