package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Exit codes, error printing, --help, --version and --stacktrace, on the real Main configuration. */
class MainTest {
    @Command(name = "boom")
    static final class Boom implements Callable<Integer> {
        @Option(names = "--kind")
        String kind = "bug";

        @Override
        public Integer call() {
            switch (kind) {
                case "user":
                    throw new Align4jException("data.jsonl:3: key 'chosen' is missing");
                case "error":
                    throw new OutOfMemoryError("Java heap space");
                case "disk":
                    // as the JDK reports ENOSPC from any write that no align4j code wrapped
                    throw new java.io.UncheckedIOException(new java.nio.file.FileSystemException("out/metrics.jsonl", null,
                            "No space left on device"));
                case "quota":
                    throw new IllegalStateException(new java.io.IOException("Disk quota exceeded"));
                case "wrapped":
                    throw new IllegalStateException("while loading", new RuntimeException(new Align4jException("model/config.json: bad")));
                default:
                    throw new IllegalStateException("index 7 out of bounds");
            }
        }
    }

    static CommandLine withBoom() {
        CommandLine cl = Main.commandLine();
        cl.addSubcommand("boom", new Boom());
        return cl;
    }

    @Test
    void userErrorsPrintOneLineAndExit2() {
        Cli.Result r = Cli.run(withBoom(), "boom", "--kind", "user");
        assertEquals(2, r.exit(), r.toString());
        assertEquals("error: data.jsonl:3: key 'chosen' is missing\n", r.err().replace("\r\n", "\n"));
        assertEquals("", r.out());
        r = Cli.run(withBoom(), "boom", "--kind", "wrapped");
        assertEquals(2, r.exit(), r.toString());
        assertEquals("error: model/config.json: bad\n", r.err().replace("\r\n", "\n"), "found as a cause in the chain");
    }

    /**
     * A full disk is exit 2 (docs/cli.md): the user can fix it, and it is not a bug. The checkpoint
     * and metrics writers report it as an Align4jException (exit 2, CheckpointTest); any other write
     * that meets ENOSPC or a quota is mapped to 2 here, with a message that says what to do.
     */
    @Test
    void aFullDiskExits2WithoutTheBugHint() {
        Cli.Result r = Cli.run(withBoom(), "boom", "--kind", "disk");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("error: the disk is full (No space left on device): "), r.toString());
        assertTrue(r.err().contains("out/metrics.jsonl"), r.toString());
        assertTrue(r.err().contains("--resume"), r.toString());
        assertFalse(r.err().contains("a bug in align4j"), r.toString());
        assertFalse(r.err().contains("\tat "), r.toString());
        r = Cli.run(withBoom(), "boom", "--kind", "quota");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("error: the disk is full (Disk quota exceeded)"), r.toString());
        assertEquals("No space left on device", CliSupport.diskFull(new RuntimeException(new io.github.align4j.Align4jException(
                "x", new java.io.IOException("No space left on device")))));
        assertEquals(null, CliSupport.diskFull(new java.io.IOException("Permission denied")));
    }

    @Test
    void otherErrorsExit1WithAHintAndTracesOnRequest() {
        Cli.Result r = Cli.run(withBoom(), "boom");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().startsWith("error: java.lang.IllegalStateException: index 7 out of bounds"), r.toString());
        assertTrue(r.err().contains("--stacktrace"), r.toString());
        assertFalse(r.err().contains("\tat "), r.toString());
        r = Cli.run(withBoom(), "boom", "--kind", "error");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().startsWith("error: java.lang.OutOfMemoryError: Java heap space\n"), "an Error too: " + r);
        assertFalse(r.err().contains("\tat "), r.toString());
        for (String[] args : new String[][] {{"--stacktrace", "boom"}, {"boom", "--stacktrace"}}) {
            r = Cli.run(withBoom(), args);
            assertEquals(1, r.exit(), r.toString());
            assertTrue(r.err().contains("\tat io.github.align4j.cli.MainTest$Boom.call"), r.toString());
        }
        r = Cli.run(withBoom(), "boom", "--kind", "user", "--stacktrace");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("error: data.jsonl:3"), r.toString());
        assertTrue(r.err().contains("\tat "), r.toString());
    }

    @Test
    void everyCommandHasHelp() {
        CommandLine cl = Main.commandLine();
        Cli.Result top = Cli.run("--help");
        assertEquals(0, top.exit());
        java.io.PrintStream stderr = System.err;
        java.io.ByteArrayOutputStream traced = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(traced, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            for (String name : cl.getSubcommands().keySet()) {
                Cli.Result r = Cli.run(name, "--help");
                assertEquals(0, r.exit(), name + ": " + r);
                assertTrue(r.out().contains("Usage: align4j " + name), name + ": " + r);
                // a bare % in a description ("95% Wilson") is a format error that picocli reports on System.err
                assertFalse(r.out().contains("%n") || r.err().contains("picocli WARN"), name + ": " + r);
                Cli.Result h = Cli.run("help", name);
                assertEquals(0, h.exit(), name + ": " + h);
            }
        } finally {
            System.setErr(stderr);
        }
        assertFalse(traced.toString(java.nio.charset.StandardCharsets.UTF_8).contains("picocli WARN"), traced.toString());
        assertTrue(top.out().contains("init"));
        assertTrue(top.out().contains("logprobs"));
        assertFalse(top.out().contains("load-stats"), "hidden");
    }

    @Test
    void versionAndUsageErrors() {
        Cli.Result r = Cli.run("--version");
        assertEquals(0, r.exit());
        assertTrue(r.out().startsWith("align4j "), r.out());
        assertTrue(r.out().contains("DJL 0.36.0"), r.out());
        r = Cli.run();
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().contains("Missing a command"), r.toString());
        r = Cli.run("lgoprobs");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().contains("logprobs"), "suggests the command: " + r);
        assertTrue(r.err().contains("align4j --help"), r.toString());
    }
}
