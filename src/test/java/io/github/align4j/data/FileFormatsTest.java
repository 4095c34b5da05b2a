package io.github.align4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The containers: JSONL, JSON arrays, CSV, Parquet, gzip by magic bytes, folders and globs of shards. */
class FileFormatsTest {
    @TempDir
    Path dir;

    private DataOptions opts() {
        return DataOptions.defaults().withCacheDir(dir.resolve("cache"));
    }

    private PreferenceData load(Path p, DataOptions o) {
        return PreferenceData.load(p.toString(), o, Fixtures.gpt2());
    }

    static Path write(Path p, String text) throws IOException {
        Files.createDirectories(p.getParent());
        return Files.writeString(p, text, StandardCharsets.UTF_8);
    }

    static byte[] gzip(String text) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (GZIPOutputStream g = new GZIPOutputStream(b)) {
            g.write(text.getBytes(StandardCharsets.UTF_8));
        }
        return b.toByteArray();
    }

    private static final String JSONL = "{\"prompt\":\"Hello\",\"chosen\":\" world\",\"rejected\":\" there\"}\n"
            + "\n" // blank lines are skipped but counted as lines
            + "{\"prompt\":\"One\",\"chosen\":\" two\",\"rejected\":\" three\",\"score\":0.5}\r\n";

    private static void checkTwoRows(PreferenceData d) {
        assertEquals("standard", d.layout());
        assertEquals(2, d.size());
        List<RenderedExample> t = d.texts();
        assertEquals("Hello", t.get(0).prompt());
        assertEquals(" world", t.get(0).chosen());
        assertEquals(" there", t.get(0).rejected());
        assertEquals("One", t.get(1).prompt());
        assertEquals(" three", t.get(1).rejected());
        assertEquals(Map.of("score", "0.5"), t.get(1).metadata());
        // GPT-2: "Hello" = 15496, " world" = 995, EOS 50256
        assertEquals(List.of(15496), box(d.pairs().get(0).prompt()));
        assertEquals(List.of(995, 50256), box(d.pairs().get(0).chosen()));
    }

    static List<Integer> box(int[] a) {
        return java.util.Arrays.stream(a).boxed().toList();
    }

    @Test
    void jsonLines() throws IOException {
        PreferenceData d = load(write(dir.resolve("d.jsonl"), JSONL), opts());
        checkTwoRows(d);
        assertEquals(0, d.pairs().get(0).row());
        assertEquals(1, d.pairs().get(1).row());
    }

    @Test
    void gzipIsRecognisedByMagicBytesWhateverTheName() throws IOException {
        Path named = dir.resolve("a.jsonl.gz");
        Files.write(named, gzip(JSONL));
        checkTwoRows(load(named, opts()));
        Path unnamed = dir.resolve("b.jsonl"); // gzip inside, no .gz
        Files.write(unnamed, gzip(JSONL));
        checkTwoRows(load(unnamed, opts()));
        Path array = dir.resolve("c.json"); // a gzipped JSON array
        Files.write(array, gzip("[{\"prompt\":\"Hello\",\"chosen\":\" world\",\"rejected\":\" there\"},"
                + "{\"prompt\":\"One\",\"chosen\":\" two\",\"rejected\":\" three\",\"score\":0.5}]"));
        checkTwoRows(load(array, opts()));
    }

    @Test
    void jsonArrayAndJsonLinesInADotJsonFile() throws IOException {
        checkTwoRows(load(write(dir.resolve("arr.json"), "\uFEFF [\n {\"prompt\":\"Hello\",\"chosen\":\" world\","
                + "\"rejected\":\" there\"},\n {\"prompt\":\"One\",\"chosen\":\" two\",\"rejected\":\" three\","
                + "\"score\":0.5}\n]\n"), opts()));
        checkTwoRows(load(write(dir.resolve("lines.json"), JSONL), opts()));
    }

    @Test
    void csvWithQuotesCommasNewlinesAndCrlf() throws IOException {
        String csv = "\uFEFFprompt,chosen,rejected,score\r\n"
                + "Hello, world\" x\", there ,1\r\n" // unquoted fields keep their spaces
                + "\"Say \"\"hi\"\",\nthen go\",\" two, three\",\"\",2\r\n"
                + "\r\n"
                + "Last,\" a\",\" b\",3";
        PreferenceData d = load(write(dir.resolve("d.csv"), csv), opts().withSkipBadRows(true));
        assertEquals("standard", d.layout());
        List<RenderedExample> t = d.texts();
        assertEquals(2, t.size());
        assertEquals("Hello", t.get(0).prompt());
        assertEquals(" world\" x\"", t.get(0).chosen());
        assertEquals(" there ", t.get(0).rejected());
        assertEquals("Last", t.get(1).prompt());
        assertEquals(" a", t.get(1).chosen());
        assertEquals(Map.of("score", "3"), t.get(1).metadata());
        // the quoted row has an empty rejected completion: dropped and counted
        assertEquals(Map.of("empty_completion", 1L), d.stats().dropped());
        assertEquals(3, d.stats().rowsRead());

        String csv2 = "prompt,chosen,rejected\n\"Say \"\"hi\"\",\nthen go\",\" two, three\",\" four\"\n";
        RenderedExample q = load(write(dir.resolve("q.csv"), csv2), opts()).texts().get(0);
        assertEquals("Say \"hi\",\nthen go", q.prompt());
        assertEquals(" two, three", q.chosen());
        assertEquals(" four", q.rejected());
    }

    @Test
    void csvUnpairedLabelsAreTrueFalseText() throws IOException {
        String csv = "prompt,completion,label\nHi,\" yes\",true\nHi,\" no\",FALSE\n";
        PreferenceData d = load(write(dir.resolve("u.csv"), csv), opts());
        assertEquals("unpaired", d.layout());
        assertEquals(List.of(true, false), d.unpaired().stream().map(TokenizedUnpaired::desirable).toList());
    }

    @Test
    void folderAndGlobReadShardsInSortedOrder() throws IOException {
        Path shards = dir.resolve("shards");
        write(shards.resolve("part-2.jsonl"), "{\"prompt\":\"C\",\"chosen\":\" c\",\"rejected\":\" d\"}\n");
        write(shards.resolve("part-1.jsonl"), "{\"prompt\":\"A\",\"chosen\":\" a\",\"rejected\":\" b\"}\n"
                + "{\"prompt\":\"B\",\"chosen\":\" b\",\"rejected\":\" a\"}\n");
        write(shards.resolve("notes.txt"), "not data");
        Files.write(shards.resolve("part-3.jsonl.gz"), gzip("{\"prompt\":\"D\",\"chosen\":\" x\",\"rejected\":\" y\"}\n"));
        for (String p : new String[] {shards.toString(), shards + "/part-*", shards + "/*.jsonl*"}) {
            PreferenceData d = PreferenceData.load(p, opts(), Fixtures.gpt2());
            assertEquals(List.of("A", "B", "C", "D"), d.texts().stream().map(RenderedExample::prompt).toList(), p);
            assertEquals(List.of(0L, 1L, 2L, 3L), d.pairs().stream().map(TokenizedPair::row).toList(), p);
            assertEquals(3, d.files().size(), p);
        }
        Align4jException e = assertThrows(Align4jException.class,
                () -> PreferenceData.load(shards + "/*.parquet", opts(), Fixtures.gpt2()));
        assertTrue(e.getMessage().contains("no file matches"), e.getMessage());
        // a bad row in the second shard is reported with that shard's own line number
        write(shards.resolve("part-2.jsonl"), "{\"prompt\":\"C\",\"chosen\":\" c\",\"rejected\":\" d\"}\n{\"prompt\":\"C\"}\n");
        e = assertThrows(Align4jException.class, () -> PreferenceData.load(shards.toString(), opts(), Fixtures.gpt2()));
        assertTrue(e.getMessage().startsWith(shards.resolve("part-2.jsonl") + " line 2, field 'chosen': missing"),
                e.getMessage());
    }

    @Test
    void parquetWithNestedMessageLists() throws Exception {
        Path file = dir.resolve("train-00000-of-00001.parquet");
        try (Connection c = DriverManager.getConnection("jdbc:duckdb:"); Statement s = c.createStatement()) {
            // the shape of HuggingFaceH4/ultrafeedback_binarized: prompt string, whole conversations, scores
            s.execute("COPY (SELECT * FROM (VALUES "
                    + "('What is 2+2?', 'p0', [{'content': 'What is 2+2?', 'role': 'user'}, {'content': '4', 'role': 'assistant'}],"
                    + " [{'content': 'What is 2+2?', 'role': 'user'}, {'content': '5', 'role': 'assistant'}], 9.5::DOUBLE, 2.0::DOUBLE),"
                    + "('Name a color', 'p1', [{'content': 'Name a color', 'role': 'user'}, {'content': 'Blue', 'role': 'assistant'}],"
                    + " [{'content': 'Name a color', 'role': 'user'}, {'content': 'Dog', 'role': 'assistant'}], 8.0::DOUBLE, 1.0::DOUBLE)"
                    + ") t(prompt, prompt_id, chosen, rejected, score_chosen, score_rejected)) TO '"
                    + file.toString().replace("'", "''") + "' (FORMAT parquet)");
        }
        PreferenceData d = PreferenceData.load(file.toString(), opts(), Fixtures.phi3());
        assertEquals("conversational", d.layout());
        assertEquals(2, d.size());
        RenderedExample t = d.texts().get(1);
        assertEquals("<|user|>\nName a color<|end|>\n<|assistant|>\n", t.prompt());
        assertEquals("Blue<|end|>\n<|endoftext|>", t.chosen());
        assertEquals("Dog<|end|>\n<|endoftext|>", t.rejected());
        assertEquals(Map.of("prompt_id", "p1", "score_chosen", "8.0", "score_rejected", "1.0"), t.metadata());
        assertEquals(1, d.pairs().get(1).row());

        // a Parquet error names the file and "row N" (0-based)
        Path bad = dir.resolve("bad.parquet");
        try (Connection c = DriverManager.getConnection("jdbc:duckdb:"); Statement s = c.createStatement()) {
            s.execute("COPY (SELECT 'q' AS prompt, 5 AS chosen, 'r' AS rejected) TO '" + bad + "' (FORMAT parquet)");
        }
        Align4jException e = assertThrows(Align4jException.class,
                () -> PreferenceData.load(bad.toString(), opts(), Fixtures.gpt2()));
        assertEquals(bad + " row 0, field 'chosen': expected a string, got the number 5. Fix the row, or skip and "
                + "count bad rows with --skip-bad-rows (DataOptions.withSkipBadRows).", e.getMessage());
    }

    @Test
    void parquetWithoutDuckDbSaysHowToAddIt() {
        Path f = dir.resolve("x.parquet");
        Align4jException e = assertThrows(Align4jException.class, () -> ParquetRows.requireDriver(f, "no.such.Driver"));
        assertTrue(e.getMessage().startsWith(f + ": reading Parquet needs DuckDB's JDBC driver"), e.getMessage());
        assertTrue(e.getMessage().contains("org.duckdb:duckdb_jdbc:1.4.4.0"), e.getMessage());
    }

    @Test
    void unknownFileTypeAndMissingPath() throws IOException {
        Path f = write(dir.resolve("d.txt"), "prompt\tchosen\n");
        Align4jException e = assertThrows(Align4jException.class, () -> load(f, opts()));
        assertTrue(e.getMessage().startsWith(f + ": cannot tell the file type"), e.getMessage());
        e = assertThrows(Align4jException.class, () -> load(dir.resolve("nope.jsonl"), opts()));
        assertTrue(e.getMessage().startsWith(dir.resolve("nope.jsonl") + ": no such file or folder"), e.getMessage());
    }
}
