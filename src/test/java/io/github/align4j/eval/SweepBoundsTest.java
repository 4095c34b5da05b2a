package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sweep files are bounded like recipes (size, lines, aliases), {@code seeds:} and the grid have
 * caps, the plan is fast at the caps, and a second sweep on one output folder stops at once.
 */
class SweepBoundsTest {
    static {
        Offline.ensure();
    }

    @TempDir
    Path dir;

    Path sweep(String... extra) throws Exception {
        Path f = dir.resolve("sweep.yaml");
        List<String> lines = new ArrayList<>(List.of("model_name_or_path: " + dir.resolve("no-model"),
                "train_file: " + dir.resolve("no-data.jsonl"), "train_rows: 1000", "output_dir: " + dir.resolve("out"),
                "max_steps: 5"));
        lines.addAll(List.of(extra));
        Files.write(f, lines);
        return f;
    }

    static String refused(Path f) {
        return assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> assertThrows(Align4jException.class, () -> SweepConfig.load(f)).getMessage());
    }

    @Test
    void twoBillionSeedsAreRefusedAtOnceAndAThousandArePlannedFast() throws Exception {
        Path f = sweep("seeds: 2000000000", "grid:", "  beta: [0.1, 0.2]");
        assertEquals(f + ": seeds: at most 1000 runs per cell, got 2000000000; a handful (3 to 5) tells a finding from one "
                + "trajectory", refused(f));
        // at the cap, 60 cells × 1000 seeds: the plan reads seeds once, not once per cell and seed
        String betas = IntStream.rangeClosed(1, 20).mapToObj(i -> "0." + String.format("%02d", i)).collect(Collectors.joining(", "));
        f = sweep("seeds: 1000", "grid:", "  loss_type: [dpo, ipo, hinge]", "  beta: [" + betas + "]");
        Path file = f;
        String plan = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> SweepConfig.load(file).plan());
        assertTrue(plan.contains(": 60 cells (loss_type 3 × beta 20)"), plan);
        assertTrue(plan.contains("1000 runs per cell, seeds 42–1041"), plan);
        assertTrue(plan.contains("300,000 optimizer steps in total"), plan);
        assertTrue(plan.contains("0 of 60 cells finished"), plan);
    }

    @Test
    void aGridOfMoreThanTenThousandCellsIsRefusedBeforeItIsBuilt() throws Exception {
        String ten = "[0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1]";
        Path f = sweep("grid:", "  beta: " + ten, "  learning_rate: " + ten, "  label_smoothing: [0, 0.1, 0.2, 0.3, 0.4]",
                "  warmup_ratio: " + ten, "  weight_decay: " + ten, "  max_grad_norm: " + ten.replace("0.", "1."));
        String m = refused(f);
        assertTrue(m.contains("grid: more than 10,000 cells (beta 10 × learning_rate 10 × label_smoothing 5 × warmup_ratio 10 "
                + "× weight_decay 10 × max_grad_norm 10); each cell is a training run: scan fewer values"), m);
    }

    @Test
    void thePlanCountsTrainingRowsWithoutHoldingALine() throws Exception {
        Path data = dir.resolve("no-data.jsonl");
        Files.writeString(data, "{\"a\": 1}\n\n  \t\r\n{\"a\": 2}\r\n{\"a\": 3}"); // blank lines are not rows
        Path f = sweep("grid:", "  beta: [0.1]");
        SweepConfig c = SweepConfig.load(f);
        assertEquals(3, c.rows());
        try (RandomAccessFile raf = new RandomAccessFile(data.toFile(), "rw")) {
            raf.setLength(300L << 20); // one 300 MB line (sparse)
        }
        long[] rows = new long[1];
        long bytes = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> allocated(() -> rows[0] = c.rows()));
        assertEquals(3, rows[0]); // the third row now runs on to the end of the file
        assertTrue(bytes < 16_000_000, "counted, not read into a string: " + bytes + " bytes allocated");
    }

    /** Bytes this thread allocated while running r (HotSpot's per-thread counter). */
    static long allocated(Runnable r) {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory
                .getThreadMXBean();
        long id = Thread.currentThread().getId();
        long before = mx.getThreadAllocatedBytes(id);
        r.run();
        return mx.getThreadAllocatedBytes(id) - before;
    }

    @Test
    void cellNamesAreShortAndPrintable() throws Exception {
        Path f = sweep("grid:", "  beta: [0.1]", "  chat_template: [t.jinja, " + "t".repeat(300) + ".jinja]");
        assertEquals(f + ": grid: a cell's name has 332 characters (its values name its folder and its row in the tables, "
                + "at most 200); scan shorter values, e.g. paths in a shorter folder", refused(f));
        f = sweep("grid:", "  beta: [0.1]", "  chat_template: [\"t\\u001b[2J.jinja\"]");
        assertEquals(f + ": grid: a value of cell dpo-beta0.1-chat_template=t_2J.jinja holds control characters; remove them",
                refused(f));
    }

    @Test
    void aHundredMegabyteSweepFileIsRefusedWithoutReadingIt() throws Exception {
        Path f = dir.resolve("big.yaml");
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(100L << 20); // sparse: nothing on disk
        }
        assertEquals(f + ": larger than 1,048,576 bytes, far too large for a sweep config (a YAML mapping of a few dozen "
                + "keys); check the path", refused(f));
        Path lol = sweep("grid:", "  beta: &b [0.1, 0.2]", "  loss_type: [dpo]", "eval: *b");
        assertEquals(lol + ":9: a YAML alias (*name); a sweep config takes no aliases: write the value out", refused(lol));
        Path line = sweep("# " + "x".repeat(70_000), "grid:", "  beta: [0.1]");
        assertTrue(refused(line).startsWith(line + ":6: a line of 70,002 characters"));
    }

    /** Holds the output folder's sweep lock as a running sweep does. */
    static java.nio.channels.FileChannel hold(Path out) throws Exception {
        Files.createDirectories(out);
        java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(out.resolve(".align4j-sweep.lock"),
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
        assertTrue(ch.tryLock() != null);
        return ch; // closing the channel releases the lock
    }

    /** A sweep whose cells would load a model that is not there: only the lock stops it before that. */
    Sweep builtOn(Path out) {
        TokenizedPair p = new TokenizedPair(new int[] {1, 2}, new int[] {3}, new int[] {4}, 0);
        return Sweep.builder().base(SweepFixture.config()).grid(Map.of("beta", List.of(0.1))).model(dir.resolve("no-model"))
                .trainPairs(List.of(p)).output(out).build();
    }

    @Test
    void aSecondSweepOnTheSameOutputStopsAtOnceWithASweepLevelMessage() throws Exception {
        Path out = dir.resolve("out");
        try (java.nio.channels.FileChannel held = hold(out)) {
            Align4jException e = assertThrows(Align4jException.class, () -> builtOn(out).run());
            assertEquals(out + ": another sweep in this process is running on this output folder (it holds "
                    + ".align4j-sweep.lock); wait for it to finish, or give this sweep another output folder (--output DIR)",
                    e.getMessage());
            assertFalse(Files.exists(out.resolve("cells")), "no cell was started");
        }
        // released: the next sweep gets past the lock (and stops at the missing model)
        Align4jException e = assertThrows(Align4jException.class, () -> builtOn(out).run());
        assertFalse(e.getMessage().contains("sweep-lock"), e.getMessage());
        assertTrue(Files.isRegularFile(out.resolve(".align4j-sweep.lock")));
    }

    @Test
    void theCommandLineRefusesASecondSweepBeforeTokenizingTheData() throws Exception {
        Path model = SweepFixture.model(dir.resolve("model"));
        Path data = dir.resolve("pairs.jsonl");
        Files.writeString(data, "{\"prompt\": \"the camera\", \"chosen\": \"is great .\", \"rejected\": \"is awful .\"}\n");
        Path yaml = dir.resolve("s.yaml");
        Path out = dir.resolve("busy");
        Files.write(yaml, List.of("model_name_or_path: " + model, "train_file: " + data, "output_dir: " + out, "max_steps: 1",
                "device: cpu", "grid:", "  beta: [0.1]"));
        StringWriter err = new StringWriter();
        picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
        cl.setErr(new PrintWriter(err));
        cl.setOut(new PrintWriter(new StringWriter()));
        try (java.nio.channels.FileChannel held = hold(out)) {
            assertEquals(2, cl.execute("sweep", "--config", yaml.toString()), err.toString());
        }
        assertTrue(err.toString().contains(out + ": another sweep in this process is running on this output folder"),
                err.toString());
        assertFalse(Files.exists(out.resolve("cache")), "nothing was tokenized into the busy folder");
        err.getBuffer().setLength(0);
        assertEquals(2, cl.execute("sweep", "--config", yaml.toString(), "--seeds", "1001"));
        assertTrue(err.toString().contains("--seeds must be between 1 and 1000, got 1001"), err.toString());
    }
}
