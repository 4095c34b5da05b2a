package io.github.align4j.data;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.FolderFiles;
import io.github.align4j.internal.Texts;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * Finds the files of a dataset and streams their rows, whatever the container: JSONL, a JSON
 * array, CSV or Parquet, each text format optionally gzip-compressed (recognised by its magic
 * bytes, whatever the file is called). The readers of CSV ({@link CsvRows}), JSON arrays
 * ({@link JsonArrayRows}) and Parquet ({@link ParquetRows}) are classes of their own; JSON Lines is
 * read here.
 */
final class Sources {
    /**
     * Jackson's limits for untrusted rows: nesting at most 1000 deep and numbers at most 1000
     * digits (Jackson's defaults, restated so that an upgrade cannot loosen them), names at most
     * 50,000 characters; strings as long as a row may be, since the row cap
     * ({@link DataOptions#maxLineBytes()}) already bounds them (Jackson's own 20-million-character
     * default would reject rows the cap allows).
     */
    static final StreamReadConstraints CONSTRAINTS = StreamReadConstraints.builder()
            .maxNestingDepth(1000)
            .maxNumberLength(1000)
            .maxNameLength(50_000)
            .maxStringLength((int) DataOptions.MAX_LINE_BYTES_LIMIT)
            .build();

    static final ObjectMapper JSON = new ObjectMapper(JsonFactory.builder().streamReadConstraints(CONSTRAINTS).build())
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private static final List<String> EXTENSIONS = List.of(
            ".jsonl", ".ndjson", ".json", ".csv", ".parquet", ".pq");

    private Sources() {}

    enum Kind { JSONL, JSON_ARRAY, CSV, PARQUET }

    // ---------------------------------------------------------------- files

    /**
     * The files of a dataset: one file, every data file of a folder, or the files matching a
     * glob ({@code data/*.jsonl}, {@code shards/**.parquet}), in sorted path order.
     */
    static List<Path> resolve(String pathOrGlob) {
        if (pathOrGlob == null || pathOrGlob.isBlank()) {
            throw new Align4jException("No dataset path given: pass a file, a folder or a glob such as data/*.jsonl.");
        }
        int glob = firstGlobChar(pathOrGlob);
        List<Path> out = new ArrayList<>();
        if (glob < 0) {
            Path p = Path.of(pathOrGlob);
            if (Files.isRegularFile(p)) {
                return List.of(p);
            }
            if (!Files.isDirectory(p)) {
                throw new Align4jException(p + ": no such file or folder. Pass a dataset file (.jsonl, .json, .csv, "
                        + ".parquet, optionally .gz), a folder of them, or a glob such as data/*.jsonl.");
            }
            try (Stream<Path> s = Files.list(p)) {
                s.filter(Sources::isDataFile).map(f -> FolderFiles.inside(p, f, "dataset folder"))
                        .filter(Files::isRegularFile).forEach(out::add);
            } catch (IOException e) {
                throw new Align4jException(p + ": cannot list the folder: " + e.getMessage(), e);
            }
            if (out.isEmpty()) {
                throw new Align4jException(p + ": the folder holds no dataset file (.jsonl, .json, .csv, .parquet, "
                        + "optionally .gz).");
            }
        } else {
            int slash = pathOrGlob.lastIndexOf('/', glob);
            Path base = slash < 0 ? Path.of("") : Path.of(slash == 0 ? "/" : pathOrGlob.substring(0, slash));
            String pattern = pathOrGlob.substring(slash + 1);
            PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + pattern);
            Path root = base.toString().isEmpty() ? Path.of(".") : base;
            if (!Files.isDirectory(root)) {
                throw new Align4jException(pathOrGlob + ": the folder " + root + " does not exist.");
            }
            int depth = pattern.contains("**") ? Integer.MAX_VALUE : pattern.split("/", -1).length;
            try (Stream<Path> s = Files.walk(root, depth)) {
                s.filter(f -> m.matches(root.relativize(f)))
                        .map(f -> FolderFiles.inside(root, f, "dataset folder"))
                        .filter(Files::isRegularFile)
                        .map(f -> base.toString().isEmpty() ? root.relativize(f) : f)
                        .forEach(out::add);
            } catch (IOException e) {
                throw new Align4jException(pathOrGlob + ": cannot list files: " + e.getMessage(), e);
            }
            if (out.isEmpty()) {
                throw new Align4jException(pathOrGlob + ": no file matches this pattern.");
            }
        }
        out.sort(Comparator.comparing(Path::toString));
        return List.copyOf(out);
    }

    private static int firstGlobChar(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '*' || c == '?' || c == '[' || c == '{') {
                return i;
            }
        }
        return -1;
    }

    private static boolean isDataFile(Path p) {
        String n = stripGz(p.getFileName().toString().toLowerCase(Locale.ROOT));
        return !p.getFileName().toString().startsWith(".") && EXTENSIONS.stream().anyMatch(n::endsWith);
    }

    private static String stripGz(String name) {
        if (name.endsWith(".gz")) {
            return name.substring(0, name.length() - 3);
        }
        if (name.endsWith(".gzip")) {
            return name.substring(0, name.length() - 5);
        }
        return name;
    }

    // ---------------------------------------------------------------- rows

    /**
     * How much of one row a reader may hold ({@link DataOptions#maxLineBytes()}), and whether a
     * longer row is skipped (read on to its end without keeping it) or ends the reading.
     */
    record Limits(long maxRowBytes, boolean skipLongRows) {
        Limits {
            if (maxRowBytes < 1 || maxRowBytes > DataOptions.MAX_LINE_BYTES_LIMIT) {
                throw new IllegalArgumentException("maxRowBytes " + maxRowBytes);
            }
        }

        static Limits of(DataOptions o) {
            return new Limits(o.maxLineBytes(), o.skipBadRows());
        }

        /** The error of a row longer than the cap; {@code seen} is its length when known, else -1. */
        String tooLong(String unit, long seen) {
            String head = unit + " is longer than the " + DataOptions.showBytes(maxRowBytes) + " a row may hold"
                    + (seen > maxRowBytes ? String.format(java.util.Locale.ROOT, " (%,d bytes)", seen) : "");
            if (seen > DataOptions.MAX_LINE_BYTES_LIMIT) {
                return head + "; no cap can be that high (--max-line-bytes is at most 2047m): split or shorten the row";
            }
            return head + "; if the row is genuine, raise the cap with --max-line-bytes (DataOptions.withMaxLineBytes), e.g. "
                    + "--max-line-bytes " + suggest(Math.max(seen, maxRowBytes + 1));
        }

        private static String suggest(long n) {
            long m = Math.min(DataOptions.MAX_LINE_BYTES_LIMIT >> 20, Math.max(1, (n + (1 << 20) - 1) >> 20));
            long p = Long.highestOneBit(m);
            return (p == m ? m : Math.min(p << 1, 2047)) + "m";
        }
    }

    /** Thrown to end the reading after a row longer than the cap was handed on as a bad row. */
    private static final class Stop extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Stop() {
            super(null, null, false, false);
        }
    }

    /** Every row with the default limits ({@link DataOptions#defaults()}, no skipping). */
    static long read(List<Path> files, Consumer<RawRow> sink) {
        return read(files, Limits.of(DataOptions.defaults()), sink);
    }

    /**
     * Streams every row of every file, in order, numbering them across files. A row longer than
     * {@code limits.maxRowBytes()} is handed to the sink as a bad row; unless
     * {@code limits.skipLongRows()}, reading stops right after it, having held no more than the
     * cap of it (so a gigabyte line, or a gzip bomb of one line, costs the cap and no more).
     */
    static long read(List<Path> files, Limits limits, Consumer<RawRow> sink) {
        long[] index = {0};
        for (Path f : files) {
            try {
                readFile(f, limits, index, sink);
            } catch (Stop e) {
                return index[0];
            } catch (IOException e) {
                throw new Align4jException(f + ": cannot read: " + ioProblem(e), e);
            } catch (UncheckedIOException e) {
                throw new Align4jException(f + ": cannot read: " + ioProblem(e.getCause()), e);
            }
        }
        return index[0];
    }

    private static void readFile(Path f, Limits limits, long[] index, Consumer<RawRow> sink) throws IOException {
        try (InputStream raw = Files.newInputStream(f)) {
            BufferedInputStream in = new BufferedInputStream(raw, 1 << 16);
            byte[] head = peek(in, 4);
            if (head.length >= 2 && (head[0] & 0xff) == 0x1f && (head[1] & 0xff) == 0x8b) {
                in = new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);
                head = peek(in, 4);
            } else if (head.length == 4 && head[0] == 'P' && head[1] == 'A' && head[2] == 'R' && head[3] == '1') {
                in.close();
                ParquetRows.read(f, limits, index, sink);
                return;
            }
            switch (kind(f, in)) {
                case JSONL -> readJsonl(f, in, limits, index, sink);
                case JSON_ARRAY -> JsonArrayRows.read(f, in, limits, index, sink);
                case CSV -> CsvRows.read(f, in, limits, index, sink);
                case PARQUET -> throw new Align4jException(f + ": named like a Parquet file but it does not start with "
                        + "Parquet's magic bytes PAR1 (a compressed Parquet file cannot be read: store it uncompressed).");
                default -> throw new IllegalStateException();
            }
        }
    }

    private static byte[] peek(BufferedInputStream in, int n) throws IOException {
        in.mark(n);
        byte[] b = in.readNBytes(n);
        in.reset();
        return b;
    }

    private static Kind kind(Path f, BufferedInputStream in) throws IOException {
        String name = stripGz(f.getFileName().toString().toLowerCase(Locale.ROOT));
        if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) {
            return Kind.JSONL;
        }
        if (name.endsWith(".csv")) {
            return Kind.CSV;
        }
        if (name.endsWith(".parquet") || name.endsWith(".pq")) {
            return Kind.PARQUET;
        }
        int c = firstNonSpace(in);
        if (c == '[') {
            return Kind.JSON_ARRAY;
        }
        if (c == '{' || c < 0 || name.endsWith(".json")) {
            return Kind.JSONL; // Hugging Face writes JSON Lines into .json files too
        }
        throw new Align4jException(f + ": cannot tell the file type: expected .jsonl, .json, .csv or .parquet "
                + "(optionally gzip-compressed), or JSON text starting with '[' or '{'.");
    }

    private static int firstNonSpace(BufferedInputStream in) throws IOException {
        in.mark(1 << 15);
        try {
            for (int i = 0; i < (1 << 15); i++) {
                int c = in.read();
                if (c < 0) {
                    return -1;
                }
                if (i < 3 && (c == 0xef || c == 0xbb || c == 0xbf)) {
                    continue; // byte order mark
                }
                if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
                    return c;
                }
            }
            return -1;
        } finally {
            in.reset();
        }
    }

    // ---------------------------------------------------------------- JSON Lines

    /** Hands on a row longer than the cap as a bad row, then stops unless such rows are skipped. */
    static void tooLong(Path f, String where, String unit, long seen, Limits limits, long[] index,
            Consumer<RawRow> sink, boolean fromCsv) {
        sink.accept(new RawRow(f, where, index[0]++, null, limits.tooLong(unit, seen), fromCsv));
        if (!limits.skipLongRows()) {
            throw new Stop();
        }
    }

    private static void readJsonl(Path f, InputStream in, Limits limits, long[] index, Consumer<RawRow> sink)
            throws IOException {
        LineReader lines = new LineReader(in, limits.maxRowBytes());
        long lineNo = 0;
        while (lines.next(limits.skipLongRows())) {
            lineNo++;
            if (lines.tooLong()) {
                tooLong(f, "line " + lineNo, "the line", lines.skipped() ? lines.total() : -1, limits, index, sink,
                        false);
                continue;
            }
            byte[] b = lines.bytes();
            int len = lines.length();
            int off = 0;
            if (lineNo == 1 && len >= 3 && (b[0] & 0xff) == 0xef && (b[1] & 0xff) == 0xbb && (b[2] & 0xff) == 0xbf) {
                off = 3;
            }
            if (len > off && b[len - 1] == '\r') {
                len--;
            }
            if (blank(b, off, len)) {
                continue;
            }
            String where = "line " + lineNo;
            String text;
            try {
                text = Utf8.decode(b, off, len - off);
            } catch (Utf8.Invalid e) {
                sink.accept(new RawRow(f, where, index[0]++, null,
                        "invalid UTF-8 at byte " + (e.offset + 1) + " of the line; the file must be UTF-8 encoded "
                                + "(re-save it as UTF-8)", false));
                continue;
            }
            JsonNode node;
            try {
                node = JSON.readTree(text);
            } catch (JsonProcessingException e) {
                sink.accept(new RawRow(f, where, index[0]++, null,
                        "not valid JSON (" + jsonProblem(e) + "); each line of a JSON Lines file must be one JSON object",
                        false));
                continue;
            }
            if (!node.isObject()) {
                sink.accept(new RawRow(f, where, index[0]++, null,
                        "expected a JSON object {...}, got " + RowFields.describe(node), false));
                continue;
            }
            sink.accept(new RawRow(f, where, index[0]++, node, null, false));
        }
    }

    /** An I/O error's message, except a parser's (which quotes the file): its kind and place instead. */
    static String ioProblem(IOException e) {
        if (e instanceof JsonProcessingException j) {
            return Texts.jsonError("not valid JSON", j);
        }
        if (e instanceof java.nio.charset.CharacterCodingException) {
            return "not UTF-8 text (" + e.getClass().getSimpleName() + ")";
        }
        return e.getMessage();
    }

    /** What is wrong with a row's JSON and where in the row, never quoting it (the parser's message does). */
    static String jsonProblem(JsonProcessingException e) {
        var loc = e.getLocation();
        return Texts.jsonKind(e) + (loc != null && loc.getColumnNr() > 0 ? " at column " + loc.getColumnNr() : "");
    }

    private static boolean blank(byte[] b, int off, int len) {
        for (int i = off; i < len; i++) {
            byte c = b[i];
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
                return false;
            }
        }
        return true;
    }

    static ObjectNode object() {
        return JSON.createObjectNode();
    }
}
