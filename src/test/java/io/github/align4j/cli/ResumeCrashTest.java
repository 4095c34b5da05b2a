package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The promise of {@code --resume}: a run killed with SIGKILL at arbitrary moments (after its first
 * checkpoint, possibly in the middle of writing one), and resumed each time, ends with exactly the
 * weights, optimizer state and metrics of a run that was never interrupted, given the same libtorch
 * thread counts and CPU kernels (ChildRun gives the children this JVM's).
 */
class ResumeCrashTest {
    static final int STEPS = 14;

    @TempDir
    static Path shared;
    static ChildRun.Tiny tiny;

    @BeforeAll
    static void setUp() throws Exception {
        tiny = ChildRun.Tiny.make(shared);
    }

    /** Warmup + cosine, decay, accumulation, a logging window of 3 steps, a checkpoint every step, the newest 3 kept. */
    static List<String> args(Path out) {
        List<String> a = tiny.args(out, STEPS);
        a.set(a.indexOf("constant"), "cosine");
        a.addAll(List.of("--warmup-steps", "2", "--weight-decay", "0.01", "--grad-accum", "2", "--save-steps", "1",
                "--save-total-limit", "3"));
        a.set(a.indexOf("--logging-steps") + 1, "3");
        return a;
    }

    @Test
    void killedThreeTimesAndResumedEndsBitIdentical(@TempDir Path dir) throws Exception {
        Path whole = dir.resolve("whole");
        Cli.Result ref = Cli.run(args(whole).toArray(String[]::new));
        assertEquals(0, ref.exit(), ref.toString());

        Path out = dir.resolve("killed");
        List<String> resume = args(out);
        resume.add("--resume"); // also the first time: an empty folder starts from the beginning
        Random rnd = new Random(20240607L);
        long last = 0;
        int kills = 0;
        for (int round = 0; kills < 3 && round < 6; round++) {
            ChildRun child = ChildRun.start(dir.resolve("child-" + round + ".log"), resume);
            long after = last + 1 + rnd.nextInt(2); // a checkpoint newer than the one resumed from
            boolean reached = child.await(() -> ChildRun.newestCheckpoint(out) >= after, 180_000);
            if (reached && child.process.isAlive()) {
                Thread.sleep(rnd.nextInt(120)); // anywhere in the following step or checkpoint write
                child.process.destroyForcibly(); // SIGKILL
                child.exit(30);
                kills++;
                String log = child.output();
                assertTrue(round == 0 ? log.contains("no complete checkpoint") : log.contains("resume: continuing from"), log);
            } else {
                child.exit(60);
            }
            last = Math.max(last, ChildRun.newestCheckpoint(out));
            assertTrue(last < STEPS, "killed before the end: " + child.output());
        }
        assertEquals(3, kills, "three kills mid-run");

        ChildRun finish = ChildRun.start(dir.resolve("finish.log"), resume);
        assertEquals(0, finish.exit(180), finish.output());
        assertTrue(finish.output().contains("resume: continuing from"), finish.output());

        // bit-identity holds for the same thread counts and CPU kernels: the children ran with this JVM's
        assertFalse(finish.output().contains("other CPU settings"), finish.output());
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var wholeState = json.readTree(whole.resolve("final/trainer_state.json").toFile()).get("align4j");
        var outState = json.readTree(out.resolve("final/trainer_state.json").toFile()).get("align4j");
        for (String k : List.of("intra_op_threads", "interop_threads", "cpu_kernels")) {
            assertEquals(wholeState.get(k), outState.get(k), k + " of the child runs and of the run in this JVM");
        }
        for (String f : List.of("model.safetensors", "optimizer.safetensors")) {
            assertArrayEquals(Files.readAllBytes(whole.resolve("final").resolve(f)), Files.readAllBytes(out.resolve("final").resolve(f)),
                    f + " differs from the uninterrupted run's");
        }
        assertEquals(ChildRun.metrics(whole), ChildRun.metrics(out), "metrics.jsonl, timing aside");
        try (Stream<Path> s = Files.list(out)) {
            List<String> names = s.map(p -> p.getFileName().toString()).sorted().toList();
            // the lock file stays (it records what align4j wrote there); no temporaries are left
            assertFalse(names.stream().anyMatch(n -> n.startsWith(".") && !n.equals(".align4j.lock")), "no temporaries: " + names);
            assertTrue(names.stream().filter(n -> n.startsWith("checkpoint-")).count() <= 3, "save_total_limit 3: " + names);
        }
    }
}
