package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.align4j.Align4jException;
import java.io.BufferedWriter;
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Recipes are bounded before SnakeYAML sees them: size (a sparse or endless file is not read),
 * line length (SnakeYAML is super-linear in it), one document, no aliases, nesting depth. Each
 * refusal names the file (and line) and comes within a bounded time and allocation.
 */
class RecipeBoundsTest {
    static final int MAX_LINE = 64 * 1024; // BoundedYaml's caps, written out
    static final int MAX_BYTES = 1 << 20;
    @TempDir
    Path dir;

    static String refused(Path recipe) {
        return assertThrows(Align4jException.class,
                () -> TrainConfig.fromYaml(recipe, TrainConfig.defaults(), new ArrayList<>())).getMessage();
    }

    /** Bytes this thread allocated while running r (HotSpot's per-thread counter). */
    static long allocated(Runnable r) {
        warmUp();
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long id = Thread.currentThread().getId();
        long before = mx.getThreadAllocatedBytes(id);
        r.run();
        return mx.getThreadAllocatedBytes(id) - before;
    }

    /** Loads and initialises the classes a refusal uses, so that {@link #allocated} counts the refusal alone. */
    static void warmUp() {
        try {
            Path f = Files.createTempFile("warm", ".yaml");
            try {
                Files.writeString(f, "beta: 0.1\n");
                TrainConfig.fromYaml(f, TrainConfig.defaults(), new ArrayList<>());
                Files.writeString(f, "beta: 0.1\n#" + "x".repeat(MAX_BYTES) + "\n");
                refused(f);
            } finally {
                Files.delete(f);
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** A file of {@code prefix}, then {@code n} repeats of {@code c} on one line, written streaming. */
    Path oneLine(String name, String prefix, int n, char c) throws Exception {
        Path f = dir.resolve(name);
        try (BufferedWriter w = Files.newBufferedWriter(f, StandardCharsets.UTF_8)) {
            w.write(prefix);
            char[] block = new char[8192];
            java.util.Arrays.fill(block, c);
            for (int left = n; left > 0; left -= block.length) {
                w.write(block, 0, Math.min(left, block.length));
            }
            w.write("\n");
        }
        return f;
    }

    @Test
    void aNineMegabyteOneLineCommentIsRefusedAtOnceWithoutReadingIt() throws Exception {
        Path f = oneLine("comment.yaml", "beta: 0.2\n#", 9_000_000, 'x');
        long bytes = assertTimeoutPreemptively(Duration.ofSeconds(3), () -> allocated(() -> {
            String m = refused(f);
            assertTrue(m.startsWith(f + ": larger than 1,048,576 bytes"), m);
        }));
        assertTrue(bytes < 4_000_000, "refused by its size, not read: " + bytes + " bytes allocated");
    }

    @Test
    void aLongLineIsRefusedNamingItsLine() throws Exception {
        Path f = oneLine("long.yaml", "beta: 0.2\noutput_dir: runs/x\ntrain_file: \"", 200_000, 'a');
        String m = assertTimeoutPreemptively(Duration.ofSeconds(3), () -> refused(f));
        assertTrue(m.startsWith(f + ":3: a line of 200,013 characters"), m);
        assertTrue(m.contains("at most 65,536"), m);
        // at the limit a line is read, and quickly: 15 lines of 65,536 characters, 960 KiB
        Path ok = dir.resolve("ok.yaml");
        StringBuilder sb = new StringBuilder("beta: 0.3\n");
        for (int i = 0; i < 14; i++) {
            sb.append('#').append("y".repeat(MAX_LINE - 1)).append('\n');
        }
        sb.append("output_dir: \"").append("o".repeat(MAX_LINE - 14)).append("\"\n");
        Files.writeString(ok, sb);
        TrainConfig c = assertTimeoutPreemptively(Duration.ofSeconds(3),
                () -> TrainConfig.fromYaml(ok, TrainConfig.defaults(), new ArrayList<>()));
        assertEquals(0.3, c.lossSpec().beta(), 0);
        assertEquals(MAX_LINE - 14, c.output().dir().length());
    }

    @Test
    void aSparseOrEndlessFileIsNotRead() throws Exception {
        Path sparse = dir.resolve("sparse.yaml");
        try (RandomAccessFile raf = new RandomAccessFile(sparse.toFile(), "rw")) {
            raf.setLength(100L << 20);
        }
        long bytes = assertTimeoutPreemptively(Duration.ofSeconds(3), () -> allocated(() ->
                assertTrue(refused(sparse).startsWith(sparse + ": larger than 1,048,576 bytes"))));
        assertTrue(bytes < 4_000_000, bytes + " bytes allocated");
        Path zero = Path.of("/dev/zero"); // reports size 0 and never ends: read up to the cap, no further
        assumeTrue(Files.isReadable(zero));
        String m = assertTimeoutPreemptively(Duration.ofSeconds(3), () -> refused(zero));
        assertTrue(m.startsWith("/dev/zero: larger than 1,048,576 bytes"), m);
    }

    @Test
    void aliasesAreRefusedSoNoBillionLaughs() throws Exception {
        StringBuilder lol = new StringBuilder("beta: 0.1\nlol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (int i = 1; i < 10; i++) {
            lol.append("lol").append(i).append(": &a").append(i).append(" [");
            for (int j = 0; j < 9; j++) {
                lol.append(j > 0 ? ", " : "").append("*a").append(i - 1);
            }
            lol.append("]\n");
        }
        Path f = dir.resolve("lol.yaml");
        Files.writeString(f, lol);
        String m = assertTimeoutPreemptively(Duration.ofSeconds(3), () -> refused(f));
        assertEquals(f + ":3: a YAML alias (*name); a recipe takes no aliases: write the value out", m);
        // a scalar alias used to arrive as the anchor's name ("b"), silently
        Files.writeString(f, "beta: &b 0.5\nlearning_rate: *b\n");
        assertEquals(f + ":2: a YAML alias (*name); a recipe takes no aliases: write the value out", refused(f));
    }

    @Test
    void oneDocumentAndBoundedNesting() throws Exception {
        Path f = dir.resolve("two.yaml");
        Files.writeString(f, "beta: 0.1\n---\nbeta: 0.5\n"); // the second document used to be dropped without a word
        assertEquals(f + ":3: a second YAML document; a recipe is one document (remove the '---' and what follows it)",
                refused(f));
        Files.writeString(f, "---\nbeta: 0.4\n...\n"); // explicit markers around one document are fine
        assertEquals(0.4, TrainConfig.fromYaml(f, TrainConfig.defaults(), new ArrayList<>()).lossSpec().beta(), 0);

        Files.writeString(f, "loss_kwargs: " + "[".repeat(60) + "]".repeat(60) + "\n");
        String m = refused(f);
        assertTrue(m.startsWith(f + ": not a valid YAML recipe: nested deeper than 50 levels"), m);
        Files.writeString(f, "beta: 0.2\nbeta: 0.3\n");
        assertEquals(f + ":2: not a valid YAML recipe: key 'beta' given twice (column 5)", refused(f));
        Files.write(f, new byte[] {'b', 'e', 't', 'a', ':', ' ', (byte) 0xff, '\n'});
        assertEquals(f + ": not a text file (invalid UTF-8); a recipe is a YAML mapping of key: value", refused(f));
        List<String> ignored = new ArrayList<>();
        Files.writeString(f, "");
        assertEquals(TrainConfig.defaults().asMap(), TrainConfig.fromYaml(f, TrainConfig.defaults(), ignored).asMap());
    }
}
