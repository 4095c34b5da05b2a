package io.github.align4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cap on one row (--max-line-bytes): an over-long row is a bad row found without holding it,
 * reading stops there unless bad rows are skipped, and then it goes on with the next row.
 * Long rows are written to disk in chunks, never built in the test's heap.
 */
class RowCapTest {
    private static final String GOOD = "{\"prompt\":\"Hi\",\"chosen\":\" yes\",\"rejected\":\" no\"}";
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;

    private DataOptions opts(long cap, boolean skip) {
        return DataOptions.defaults().withCacheDir(dir.resolve("cache")).withMaxLineBytes(cap).withSkipBadRows(skip);
    }

    /** Writes {@code head}, then {@code n} bytes of 'x' in 64 KiB chunks, then {@code tail}. */
    private static void writeLong(OutputStream out, String head, long n, String tail) throws IOException {
        out.write(head.getBytes(StandardCharsets.UTF_8));
        byte[] chunk = new byte[1 << 16];
        Arrays.fill(chunk, (byte) 'x');
        for (long left = n; left > 0; left -= chunk.length) {
            out.write(chunk, 0, (int) Math.min(chunk.length, left));
        }
        out.write(tail.getBytes(StandardCharsets.UTF_8));
    }

    /** Three rows, the second with a {@code n}-byte chosen text. */
    private Path jsonl(String name, long n, boolean gzip) throws IOException {
        Path f = dir.resolve(name);
        try (OutputStream raw = Files.newOutputStream(f);
                OutputStream out = gzip ? new GZIPOutputStream(raw, 1 << 16) : raw) {
            out.write((GOOD + "\n").getBytes(StandardCharsets.UTF_8));
            writeLong(out, "{\"prompt\":\"Long\",\"chosen\":\"", n, "\",\"rejected\":\" no\"}\n");
            out.write("{\"prompt\":\"Bye\",\"chosen\":\" ok\",\"rejected\":\" nope\"}\n".getBytes(StandardCharsets.UTF_8));
        }
        return f;
    }

    @Test
    void overLongJsonlLineStopsWithFileLineAndFlag() throws IOException {
        Path f = jsonl("d.jsonl", 2 * MIB, false);
        Align4jException e = assertThrows(Align4jException.class,
                () -> PreferenceData.load(f.toString(), opts(MIB, false), Fixtures.gpt2()));
        String m = e.getMessage();
        assertTrue(m.startsWith(f + " line 2: the line is longer than the 1 MiB a row may hold;"), m);
        assertTrue(m.contains("--max-line-bytes (DataOptions.withMaxLineBytes), e.g. --max-line-bytes 2m"), m);
        assertTrue(m.endsWith("--skip-bad-rows (DataOptions.withSkipBadRows)."), m);
    }

    @Test
    void skipBadRowsSkipsTheLineAndReadsOn() throws IOException {
        Path f = jsonl("d.jsonl", 2 * MIB, false);
        PreferenceData d = PreferenceData.load(f.toString(), opts(MIB, true), Fixtures.gpt2());
        assertEquals(3, d.stats().rowsRead());
        assertEquals(2, d.size());
        assertEquals(1, d.stats().badRows());
        String bad = d.stats().badRowMessages().get(0);
        long len = 2 * MIB + "{\"prompt\":\"Long\",\"chosen\":\"\",\"rejected\":\" no\"}".length();
        assertTrue(bad.startsWith(f + " line 2: the line is longer than the 1 MiB a row may hold ("
                + String.format(java.util.Locale.ROOT, "%,d", len) + " bytes); if the row is genuine, raise the cap "
                + "with --max-line-bytes (DataOptions.withMaxLineBytes), e.g. --max-line-bytes 4m"), bad);
        assertEquals(Fixtures.gpt2().encode(" ok")[0], d.pairs().get(1).chosen()[0], "row 3 kept after the skipped line");
        // a cap above the line reads it (rows only: tokenizing 2 MiB of 'x' is slow)
        List<RawRow> rows = new ArrayList<>();
        Sources.read(List.of(f), new Sources.Limits(3 * MIB, false), rows::add);
        assertEquals(3, rows.size());
        assertEquals(null, rows.get(1).error());
        assertEquals(2 * MIB, rows.get(1).node().get("chosen").asText().length());
    }

    @Test
    void gzipCompressedLineIsCappedOnTheDecompressedBytes() throws IOException {
        Path f = jsonl("d.jsonl.gz", 80 * MIB, true);
        assertTrue(Files.size(f) < MIB, "80 MiB of 'x' compress to " + Files.size(f));
        String m = assertThrows(Align4jException.class,
                () -> PreferenceData.load(f.toString(), opts(MIB, false), Fixtures.gpt2())).getMessage();
        assertTrue(m.startsWith(f + " line 2: the line is longer than the 1 MiB"), m);
        PreferenceData d = PreferenceData.load(f.toString(), opts(MIB, true), Fixtures.gpt2());
        assertEquals(2, d.size());
        assertTrue(d.stats().badRowMessages().get(0).contains(String.format(java.util.Locale.ROOT, "(%,d bytes)",
                80 * MIB + "{\"prompt\":\"Long\",\"chosen\":\"\",\"rejected\":\" no\"}".length())),
                d.stats().badRowMessages().toString());
    }

    /** An endless stream of 'x' (then, optionally, a newline and a short line), counting what was read. */
    private static final class Synthetic extends InputStream {
        private final byte[] src = new byte[1 << 16];
        private final long xs;
        private final byte[] tail;
        long read;

        Synthetic(long xs, String tail) {
            Arrays.fill(src, (byte) 'x');
            this.xs = xs;
            this.tail = tail.getBytes(StandardCharsets.UTF_8);
        }

        @Override
        public int read() {
            byte[] b = new byte[1];
            return read(b, 0, 1) < 0 ? -1 : b[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (read < xs) {
                int n = (int) Math.min(Math.min(len, src.length), xs - read);
                System.arraycopy(src, 0, b, off, n);
                read += n;
                return n;
            }
            int t = (int) (read - xs);
            if (t >= tail.length) {
                return -1;
            }
            int n = Math.min(len, tail.length - t);
            System.arraycopy(tail, t, b, off, n);
            read += n;
            return n;
        }
    }

    @Test
    void withoutSkippingReadingStopsAtTheCap() throws IOException {
        Synthetic in = new Synthetic(Long.MAX_VALUE, "");
        LineReader r = new LineReader(in, MIB);
        assertTrue(r.next(false));
        assertTrue(r.tooLong());
        assertFalse(r.skipped());
        assertTrue(in.read <= MIB + (1 << 16), "read " + in.read + " bytes of an endless line");
        assertThrows(IllegalStateException.class, () -> r.next(false));
    }

    /** A line past 2^31 bytes: its length is counted in a long (it used to overflow an int), nothing held. */
    @Test
    void lineLongerThanAnIntIsSkippedAndCounted() throws IOException {
        long n = (1L << 31) + 12345;
        LineReader r = new LineReader(new Synthetic(n, "\n{\"a\":1}\n"), MIB);
        assertTrue(r.next(true));
        assertTrue(r.tooLong());
        assertTrue(r.skipped());
        assertEquals(n, r.total());
        assertTrue(r.bytes().length <= MIB);
        assertTrue(r.next(true));
        assertFalse(r.tooLong());
        assertEquals("{\"a\":1}", new String(r.bytes(), 0, r.length(), StandardCharsets.UTF_8));
        assertFalse(r.next(true));
    }

    @Test
    void messagesSuggestACapThatFits() {
        Sources.Limits l = new Sources.Limits(64 * MIB, true);
        assertTrue(l.tooLong("the line", -1).endsWith("e.g. --max-line-bytes 128m"), l.tooLong("the line", -1));
        assertTrue(l.tooLong("the line", 1000 * MIB).endsWith("e.g. --max-line-bytes 1024m"));
        assertTrue(l.tooLong("the line", 1025 * MIB).endsWith("e.g. --max-line-bytes 2047m"));
        String m = l.tooLong("the line", 3L << 30);
        assertTrue(m.contains("(3,221,225,472 bytes); no cap can be that high"), m);
    }

    @Test
    void bufferGrowthNeverOverflows() {
        int max = (int) DataOptions.MAX_LINE_BYTES_LIMIT;
        assertEquals(max, LineReader.grownSize(1 << 30, (1L << 30) + 1, max)); // 2 * 2^30 overflows an int
        assertEquals(max, LineReader.grownSize(max - 1, max, max));
        assertEquals(1 << 13, LineReader.grownSize(1 << 12, 5000, max));
        assertEquals(1000, LineReader.grownSize(600, 700, 1000));
        assertEquals(70_000, LineReader.grownSize(4096, 70_000, max));
        assertThrows(IllegalArgumentException.class, () -> LineReader.grownSize(10, 11, 10));
    }

    @Test
    void jsonArrayElementOverTheCapStopsTheFile() throws IOException {
        Path f = dir.resolve("a.json");
        try (OutputStream out = Files.newOutputStream(f)) {
            out.write(("[" + GOOD + ",\n").getBytes(StandardCharsets.UTF_8));
            writeLong(out, "{\"prompt\":\"Long\",\"chosen\":\"", 4 * MIB, "\",\"rejected\":\" no\"}]");
        }
        for (boolean skip : new boolean[] {false, true}) {
            String m = assertThrows(Align4jException.class,
                    () -> PreferenceData.load(f.toString(), opts(MIB, skip), Fixtures.gpt2())).getMessage();
            assertTrue(m.startsWith(f + " row 1: the row is longer than the 1 MiB a row may hold;"), m);
            assertTrue(m.contains("--max-line-bytes") && m.contains("convert it to JSON Lines"), m);
        }
    }

    /** Just past the cap, within the parser's read-ahead: measured after parsing, an ordinary bad row. */
    @Test
    void jsonArrayElementJustOverTheCapIsABadRow() throws IOException {
        Path f = dir.resolve("a.json");
        try (OutputStream out = Files.newOutputStream(f)) {
            out.write(("[" + GOOD + ",\n").getBytes(StandardCharsets.UTF_8));
            writeLong(out, "{\"prompt\":\"Long\",\"chosen\":\"", MIB, "\",\"rejected\":\" no\"},\n");
            out.write((GOOD + "]").getBytes(StandardCharsets.UTF_8));
        }
        PreferenceData d = PreferenceData.load(f.toString(), opts(MIB, true), Fixtures.gpt2());
        assertEquals(3, d.stats().rowsRead());
        assertEquals(2, d.size());
        assertTrue(d.stats().badRowMessages().get(0).startsWith(f + " row 1: the row is longer than the 1 MiB"),
                d.stats().badRowMessages().toString());
        String m = assertThrows(Align4jException.class,
                () -> PreferenceData.load(f.toString(), opts(MIB, false), Fixtures.gpt2())).getMessage();
        assertTrue(m.startsWith(f + " row 1: the row is longer than the 1 MiB"), m);
    }

    @Test
    void csvRecordOverTheCap() throws IOException {
        Path f = dir.resolve("d.csv");
        try (OutputStream out = Files.newOutputStream(f)) {
            out.write("prompt,chosen,rejected\nHi, yes, no\n".getBytes(StandardCharsets.UTF_8));
            // a quoted field with line breaks and a "" inside, far past the cap; the record ends on line 5
            writeLong(out, "Long,\"a\n\"\"b\n", 2 * MIB, "\", no\nBye, ok, nope\n");
        }
        String m = assertThrows(Align4jException.class,
                () -> PreferenceData.load(f.toString(), opts(MIB, false), Fixtures.gpt2())).getMessage();
        assertTrue(m.startsWith(f + " line 3: the record is longer than the 1 MiB a row may hold"), m);
        PreferenceData d = PreferenceData.load(f.toString(), opts(MIB, true), Fixtures.gpt2());
        assertEquals(3, d.stats().rowsRead());
        assertEquals(2, d.size());
        assertEquals(Fixtures.gpt2().encode(" ok")[0], d.pairs().get(1).chosen()[0]);
    }

    /** A record of a million empty fields is not kept field by field (each would cost an object). */
    @Test
    void csvRecordWithManyFieldsIsABadRowWithItsCount() throws IOException {
        Path f = dir.resolve("d.csv");
        try (OutputStream out = Files.newOutputStream(f)) {
            out.write("prompt,chosen,rejected\n".getBytes(StandardCharsets.UTF_8));
            byte[] commas = new byte[1 << 20];
            Arrays.fill(commas, (byte) ',');
            out.write(commas);
            out.write("\nBye, ok, nope\n".getBytes(StandardCharsets.UTF_8));
        }
        PreferenceData d = PreferenceData.load(f.toString(), opts(4 * MIB, true), Fixtures.gpt2());
        assertEquals(1, d.size());
        assertTrue(d.stats().badRowMessages().get(0).contains("got 1048577"), d.stats().badRowMessages().toString());
    }

    /** Many bad bytes in one huge row are not all remembered, and the next row's first one is not lost. */
    @Test
    void utf8GuardStaysSmallAndKeepsEachRowsFirstBadByte() throws IOException {
        Path f = dir.resolve("a.json");
        try (OutputStream out = Files.newOutputStream(f)) {
            out.write("[{\"prompt\":\"Hi\",\"chosen\":\"".getBytes(StandardCharsets.UTF_8));
            byte[] bad = new byte[1 << 16];
            Arrays.fill(bad, (byte) 0xff);
            for (int i = 0; i < 8; i++) {
                out.write(bad); // 512 Ki bad bytes
            }
            out.write("\",\"rejected\":\" no\"},\n".getBytes(StandardCharsets.UTF_8));
            out.write(("{\"prompt\":\"Hi\",\"chosen\":\"\u00e9\",\"rejected\":\" no\"},\n").getBytes(StandardCharsets.UTF_8));
            out.write(new byte[] {'{', '"', 'p', 'r', 'o', 'm', 'p', 't', '"', ':', '"', (byte) 0xc3, '"', ','});
            out.write(("\"chosen\":\" a\",\"rejected\":\" b\"},\n" + GOOD + "]").getBytes(StandardCharsets.UTF_8));
        }
        List<RawRow> rows = new ArrayList<>();
        Sources.read(List.of(f), new Sources.Limits(4 * MIB, true), rows::add);
        assertEquals(4, rows.size());
        assertTrue(rows.get(0).error().startsWith("invalid UTF-8 at byte 26 of the file"), rows.get(0).error());
        assertEquals(null, rows.get(1).error());
        assertTrue(rows.get(2).error() != null && rows.get(2).error().startsWith("invalid UTF-8"), String.valueOf(rows.get(2)));
        assertEquals(null, rows.get(3).error());
    }

    @Test
    void sizesParseAndTheCapIsBounded() {
        assertEquals(64 * MIB, DataOptions.parseBytes("64m", "x"));
        assertEquals(64 * MIB, DataOptions.parseBytes("64MiB", "x"));
        assertEquals(1L << 30, DataOptions.parseBytes("1g", "x"));
        assertEquals(1536, DataOptions.parseBytes("1536", "x"));
        assertEquals(2048, DataOptions.parseBytes("2k", "x"));
        String m = assertThrows(Align4jException.class, () -> DataOptions.parseBytes("lots", "--max-line-bytes")).getMessage();
        assertTrue(m.startsWith("--max-line-bytes: 'lots' is not a size"), m);
        assertEquals(DataOptions.DEFAULT_MAX_LINE_BYTES, DataOptions.defaults().maxLineBytes());
        m = assertThrows(Align4jException.class, () -> DataOptions.defaults().withMaxLineBytes(3L << 30)).getMessage();
        assertTrue(m.contains("--max-line-bytes") && m.contains("2 GiB"), m);
        assertThrows(Align4jException.class, () -> DataOptions.defaults().withMaxLineBytes(0));
    }

    @Test
    void tokenizedCacheLivesUnderTheRoot() {
        Path root = dir.resolve("root");
        assertEquals(root.resolve("tokenized"), DataOptions.defaults().withCacheRoot(root).effectiveCacheDir());
        assertEquals(DataOptions.defaults().effectiveCacheDir(), DataOptions.defaults().withCacheRoot(null).effectiveCacheDir());
        assertEquals(DataOptions.cacheRoot().resolve("tokenized"), DataOptions.defaultCacheDir());
    }
}
