package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM and SIGINT stop {@code align4j train} after the current step with a checkpoint, a
 * message saying where it is and how to resume, and exit codes 143 and 130; resuming from those
 * checkpoints gives the weights of an uninterrupted run.
 */
class SignalTest {
    @TempDir
    static Path shared;
    static ChildRun.Tiny tiny;

    @BeforeAll
    static void setUp() throws Exception {
        tiny = ChildRun.Tiny.make(shared);
    }

    static List<String> args(Path out, int steps) {
        return tiny.args(out, steps);
    }

    static long loggedSteps(Path out) {
        try {
            return Files.isRegularFile(out.resolve("metrics.jsonl")) ? Files.readAllLines(out.resolve("metrics.jsonl")).size() : 0;
        } catch (java.io.IOException e) {
            return 0;
        }
    }

    static long stoppedAt(String log, String signal, Path out) {
        Matcher m = Pattern.compile("stopped by " + signal + " after step (\\d+) of 100000; checkpoint: (\\S+)").matcher(log);
        assertTrue(m.find(), log);
        assertEquals(out.resolve("checkpoint-" + m.group(1)).toString(), m.group(2), log);
        return Long.parseLong(m.group(1));
    }

    /** Whether this process ignores SIGINT (bit 2 of SigIgn in /proc/self/status), as its children then do. */
    static boolean sigintIgnored() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("SigIgn:")) {
                    return (Long.parseUnsignedLong(l.substring(7).trim(), 16) & 0x2L) != 0;
                }
            }
        } catch (java.io.IOException | NumberFormatException e) {
            return false;
        }
        return false;
    }

    @Test
    void sigtermAndSigintCheckpointAndExitWith143And130(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        // SIGTERM (what a scheduler sends) once training is under way; no periodic checkpoints
        ChildRun term = ChildRun.start(dir.resolve("term.log"), args(out, 100_000));
        term.await(() -> loggedSteps(out) >= 2, 180_000);
        term.process.destroy(); // SIGTERM
        assertEquals(143, term.exit(120), term.output());
        String log = term.output();
        assertTrue(log.contains("received SIGTERM: finishing the current step, then writing a checkpoint"), log);
        long a = stoppedAt(log, "SIGTERM", out);
        assertEquals(1, log.split("stopped by SIGTERM", -1).length - 1, "said once (the trainer says it, the CLI not again): " + log);
        assertTrue(log.contains("resume with: align4j train --model " + tiny.model()), log);
        assertTrue(log.contains("--resume"), log);
        assertFalse(log.contains("\tat "), "no stack trace: " + log);
        assertTrue(Files.readString(out.resolve(".align4j.lock")).contains("\"wrote\""), "the lock file stays as the record");

        // SIGINT (Ctrl-C) on the resumed run. A process started in the background by a shell without job control
        // inherits SIGINT as ignored, and the JVM then keeps ignoring it: nothing align4j can change, so skip there.
        org.junit.jupiter.api.Assumptions.assumeFalse(sigintIgnored(),
                "SIGINT is ignored in this process (started in the background without job control), so its children ignore it");
        List<String> resume = args(out, 100_000);
        resume.add("--resume");
        ChildRun intr = ChildRun.start(dir.resolve("int.log"), resume);
        intr.await(() -> loggedSteps(out) >= a + 2, 180_000);
        intr.signal("INT");
        assertEquals(130, intr.exit(120), intr.output());
        long b = stoppedAt(intr.output(), "SIGINT", out);
        assertEquals(1, intr.output().split("stopped by SIGINT", -1).length - 1, intr.output());
        assertTrue(b > a, intr.output());

        // finish in-process a little later: the same weights as a run never stopped (constant learning rate,
        // so the changed max_steps does not change the schedule)
        List<String> fin = args(out, (int) b + 2);
        fin.add("--resume");
        Cli.Result r = Cli.run(fin.toArray(String[]::new));
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("done: " + (b + 2) + " steps"), r.toString());
        Path whole = dir.resolve("whole");
        Cli.Result w = Cli.run(args(whole, (int) b + 2).toArray(String[]::new));
        assertEquals(0, w.exit(), w.toString());
        assertArrayEquals(Files.readAllBytes(whole.resolve("final/model.safetensors")),
                Files.readAllBytes(out.resolve("final/model.safetensors")));
        assertEquals(ChildRun.metrics(whole), ChildRun.metrics(out));
    }
}
