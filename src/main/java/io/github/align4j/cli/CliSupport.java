package io.github.align4j.cli;

import io.github.align4j.Align4jException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.ParseResult;

/** What the commands share: exit codes, error printing, file checks and atomic writes. */
final class CliSupport {
    /** The command did what it was asked. */
    static final int EXIT_OK = 0;
    /** An unexpected failure: a bug, or the machine (memory, native libraries). */
    static final int EXIT_INTERNAL = 1;
    /**
     * A usage error, bad input (an {@link Align4jException}), or a disk that is full: the message
     * says what to fix, and the user can fix it.
     */
    static final int EXIT_USER = 2;

    private CliSupport() {}

    /** The first {@link Align4jException} in a cause chain, or null. */
    static Align4jException userError(Throwable t) {
        for (int depth = 0; t != null && depth < 64; depth++, t = t.getCause()) {
            if (t instanceof Align4jException a) {
                return a;
            }
        }
        return null;
    }

    /**
     * "No space left on device" or "Disk quota exceeded" from the first I/O exception in a cause
     * chain that says so, or null.
     */
    static String diskFull(Throwable t) {
        for (int depth = 0; t != null && depth < 64; depth++, t = t.getCause()) {
            if (t instanceof IOException && t.getMessage() != null) {
                for (String why : new String[] {"No space left on device", "Disk quota exceeded"}) {
                    if (t.getMessage().contains(why)) {
                        return why;
                    }
                }
            }
        }
        return null;
    }

    /** Whether {@code --stacktrace} was given to the command or any of its parents. */
    static boolean stacktrace(ParseResult pr) {
        for (ParseResult p = pr; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption("--stacktrace")) {
                return true;
            }
        }
        return false;
    }

    /**
     * picocli's usual strategy, except that a {@link Error} thrown by a command (out of memory, a
     * native library that fails to load) also reaches {@link ErrorHandler} instead of escaping
     * {@code main} with a stack trace.
     */
    static int runCatchingErrors(ParseResult pr) {
        try {
            return new CommandLine.RunLast().execute(pr);
        } catch (Error e) {
            throw new CommandLine.ExecutionException(pr.commandSpec().commandLine(), String.valueOf(e), e);
        }
    }

    /** Prints user errors as one line, anything else as a short line and a hint. */
    static final class ErrorHandler implements CommandLine.IExecutionExceptionHandler {
        @Override
        public int handleExecutionException(Exception ex, CommandLine cmd, ParseResult pr) {
            PrintWriter err = cmd.getErr();
            boolean trace = stacktrace(pr);
            Throwable shown = ex instanceof CommandLine.ExecutionException && ex.getCause() instanceof Error ? ex.getCause() : ex;
            Align4jException user = userError(ex);
            if (user != null) {
                err.println("error: " + printable(user.getMessage()));
                if (trace) {
                    ex.printStackTrace(err);
                }
                err.flush();
                return EXIT_USER;
            }
            String full = diskFull(ex);
            if (full != null) { // the environment, and the user can fix it: like bad input, not a bug
                err.println("error: the disk is full (" + full + "): " + printable(describe(shown)) + ". Free space and run the "
                        + "command again; train continues from its last complete checkpoint with --resume.");
                if (trace) {
                    shown.printStackTrace(err);
                }
                err.flush();
                return EXIT_USER;
            }
            if (trace) {
                shown.printStackTrace(err);
            } else {
                Throwable root = shown;
                while (root.getCause() != null && root.getCause() != root) {
                    root = root.getCause();
                }
                String what = root == shown ? describe(shown) : describe(shown) + " (caused by " + describe(root) + ")";
                err.println("error: " + printable(what));
                err.println("This is unexpected: a bug in align4j or a problem with the machine (memory, disk, "
                        + "native libraries). Rerun with --stacktrace for the full trace and include it in a bug report.");
            }
            err.flush();
            return EXIT_INTERNAL;
        }

        private static String describe(Throwable t) {
            String m = t.getMessage();
            return t.getClass().getName() + (m == null || m.isBlank() ? "" : ": " + firstLine(m));
        }
    }

    /** A usage error: the message, suggestions for a misspelt option, and where to find help. */
    static final class UsageErrorHandler implements CommandLine.IParameterExceptionHandler {
        @Override
        public int handleParseException(CommandLine.ParameterException ex, String[] args) {
            CommandLine cmd = ex.getCommandLine();
            PrintWriter err = cmd.getErr();
            err.println("error: " + printable(ex.getMessage()));
            CommandLine.UnmatchedArgumentException.printSuggestions(ex, err);
            err.println("Run '" + cmd.getCommandSpec().qualifiedName() + " --help' for usage.");
            if (stacktrace(cmd.getParseResult())) {
                ex.printStackTrace(err);
            }
            err.flush();
            return EXIT_USER;
        }
    }

    /** {@code --version}: align4j's version from the jar, DJL's, and the JVM's. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {
                "align4j " + align4jVersion(),
                "DJL " + djlVersion() + " (PyTorch engine)",
                "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")",
            };
        }
    }

    /** The Maven version recorded in the jar, or "development build" when run from classes. */
    static String align4jVersion() {
        try (InputStream in = Main.class.getResourceAsStream("/META-INF/maven/io.github.align4j/align4j/pom.properties")) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version");
                if (v != null) {
                    return v;
                }
            }
        } catch (IOException e) {
            // fall through
        }
        String v = Main.class.getPackage().getImplementationVersion();
        return v != null ? v : "development build";
    }

    private static String djlVersion() {
        try {
            return ai.djl.engine.Engine.getDjlVersion();
        } catch (RuntimeException | LinkageError e) {
            return "(unknown)";
        }
    }

    /**
     * {@code s} safe for a terminal: control characters (ESC, BEL, CR) and lone surrogates escaped,
     * newline and tab kept. Every error and warning the command line prints passes through it,
     * since messages quote names from untrusted files (a tensor name, a data row's key).
     */
    static String printable(String s) {
        return io.github.align4j.internal.Texts.printable(s);
    }

    static String firstLine(String s) {
        return io.github.align4j.internal.Texts.firstLine(s);
    }

    /** An existing folder given to {@code option}, or a message saying what was expected there. */
    static Path existingDir(Path dir, String option, String expected) {
        if (!Files.exists(dir)) {
            throw new Align4jException(option + " " + dir + ": no such folder; expected " + expected + ".");
        }
        if (!Files.isDirectory(dir)) {
            throw new Align4jException(option + " " + dir + ": is a file, not a folder; expected " + expected + ".");
        }
        return dir;
    }

    /** An existing regular file given to {@code option}. */
    static Path existingFile(Path file, String option) {
        if (!Files.exists(file)) {
            throw new Align4jException(option + " " + file + ": no such file.");
        }
        if (Files.isDirectory(file)) {
            throw new Align4jException(option + " " + file + ": is a folder; give a file.");
        }
        return file;
    }

    /** Refuses to write into a folder that holds something, unless the user said so. */
    static void emptyOrOverwrite(Path dir, String option, boolean overwrite) {
        if (Files.isRegularFile(dir)) {
            throw new Align4jException(option + " " + dir + ": is a file; give a folder to create.");
        }
        if (!overwrite && Files.isDirectory(dir)) {
            try (Stream<Path> s = Files.list(dir)) {
                if (s.findAny().isPresent()) {
                    throw new Align4jException(option + " " + dir + ": the folder is not empty. Choose a new folder "
                            + "or add --overwrite to replace the files align4j writes there.");
                }
            } catch (IOException e) {
                throw new Align4jException(option + " " + dir + ": cannot list the folder: " + e.getMessage(), e);
            }
        }
    }

    /** Writes to a temporary file beside {@code file}, then moves it into place. */
    interface Writer {
        void write(OutputStream out) throws IOException;
    }

    static void writeAtomically(Path file, String option, Writer writer) {
        Path abs = file.toAbsolutePath();
        Path parent = abs.getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new Align4jException(option + " " + file + ": the folder " + parent + " does not exist; create it first.");
        }
        try {
            io.github.align4j.internal.FileTrees.writeAtomically(abs, writer::write);
        } catch (IOException e) {
            throw new Align4jException(option + " " + file + ": cannot write: " + e, e);
        }
    }

    /** Deletes a folder tree (for temporary folders this process made). */
    static void deleteTree(Path dir) {
        io.github.align4j.internal.FileTrees.deleteTree(dir);
    }

    /**
     * {@code --judge openai:MODEL@URL}'s client settings: the key from the environment variable named by
     * {@code --judge-api-key-env}, the reply cache ({@code --judge-cache}, default {@code ~/.cache/align4j/judge_cache.jsonl}),
     * plain http only as {@code --judge-allow-http} allows, with its warning on {@code err}.
     */
    static io.github.align4j.eval.ChatClient.Options judgeOptions(String judge, String apiKeyEnv, java.nio.file.Path cache,
            boolean allowHttp, java.io.PrintWriter err) {
        String key = null;
        if (apiKeyEnv != null) {
            key = System.getenv(apiKeyEnv);
            if (key == null || key.isEmpty()) {
                throw new Align4jException("--judge-api-key-env " + apiKeyEnv + ": the environment variable is not set; "
                        + "export it or leave the option out for a server that needs no key");
            }
        }
        if (cache == null) {
            String xdg = System.getenv("XDG_CACHE_HOME");
            java.nio.file.Path root = xdg != null && !xdg.isBlank() ? java.nio.file.Path.of(xdg)
                    : java.nio.file.Path.of(System.getProperty("user.home"), ".cache");
            cache = root.resolve("align4j").resolve("judge_cache.jsonl");
        }
        io.github.align4j.eval.ChatClient.Options o = io.github.align4j.eval.LlmJudge.parse(judge).withApiKey(apiKeyEnv, key)
                .withCache(cache).withPlainHttp(allowHttp);
        o.checkTransport();
        if (o.plainHttpWarning() != null) {
            err.println(o.plainHttpWarning());
            err.flush();
        }
        return o;
    }
}
