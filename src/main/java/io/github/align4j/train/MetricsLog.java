package io.github.align4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where metrics go: {@code metrics.jsonl} in the output folder (one JSON object per line, TRL's
 * key names), the in-memory history, and a console progress line with ETA and headline metrics
 * (redrawn in place on a terminal, one line per log otherwise).
 */
final class MetricsLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Writer out;
    private Path file;
    private final PrintStream console;
    private final boolean tty;
    private final List<Map<String, Object>> history = new ArrayList<>();
    private final long started = System.nanoTime();
    private double elapsedBefore;
    private long stepsBefore;

    MetricsLog(Path dir, PrintStream console, boolean append) {
        this.console = console;
        this.tty = System.console() != null && console == System.err;
        try {
            if (dir != null) {
                Files.createDirectories(dir);
                file = dir.resolve(OutputFolder.METRICS);
                if (Files.isSymbolicLink(file)) {
                    throw new IOException("it is a symbolic link; align4j never follows links inside the output folder");
                }
                out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, LinkOption.NOFOLLOW_LINKS,
                        StandardOpenOption.CREATE, append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING,
                        StandardOpenOption.WRITE);
            } else {
                out = null;
            }
        } catch (IOException e) {
            throw new Align4jException(dir + ": cannot write metrics.jsonl: " + e.getMessage(), e);
        }
    }

    /**
     * Continues a run from a checkpoint: {@code metrics.jsonl} is rewritten (through a file in the
     * scratch folder {@code .metrics.jsonl.tmp/}, moved into place) to hold exactly the checkpoint's
     * history, so that steps logged after the checkpoint by the interrupted run are not repeated,
     * and new records are appended to it. A {@code metrics.jsonl} that is a symbolic link is
     * refused, never followed.
     */
    static MetricsLog resumed(Path dir, PrintStream console, List<Map<String, Object>> history, double elapsedBefore,
            long stepsBefore) {
        if (dir != null) {
            Path file = dir.resolve(OutputFolder.METRICS);
            Path scratch = dir.resolve("." + OutputFolder.METRICS + ".tmp");
            Path tmp = scratch.resolve(OutputFolder.METRICS);
            try {
                Files.createDirectories(dir);
                if (Files.isSymbolicLink(file)) {
                    throw new IOException("it is a symbolic link; align4j never follows links inside the output folder");
                }
                OutputFolder.deleteOurs(scratch, true);
                OutputFolder.createScratch(scratch);
                try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8, StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE)) {
                    for (Map<String, Object> r : history) {
                        w.write(JSON.writeValueAsString(JSON.valueToTree(r)));
                        w.write('\n');
                    }
                }
                Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                OutputFolder.deleteOurs(scratch, true);
            } catch (IOException e) {
                throw new Align4jException(file + ": cannot rewrite the metrics for the resumed run: " + e.getMessage(), e);
            }
        }
        MetricsLog log = new MetricsLog(dir, console, true);
        log.history.addAll(history);
        log.elapsedBefore = elapsedBefore;
        log.stepsBefore = stepsBefore;
        return log;
    }

    /** Appends one record (keys in insertion order) and flushes it. */
    void log(Map<String, Object> record) {
        history.add(record);
        if (out != null) {
            try {
                ObjectNode n = JSON.valueToTree(record);
                out.write(JSON.writeValueAsString(n));
                out.write('\n');
                out.flush();
            } catch (IOException e) {
                throw new Align4jException(file + ": cannot write: " + e.getMessage() + " (is the disk full?). "
                        + "The checkpoints already written are intact; free space and continue with --resume.", e);
            }
        }
    }

    /** Redraws the progress line: step/total, ETA and the headline metrics. */
    void progress(long step, long total, Map<String, Object> last, boolean logged) {
        if (console == null) {
            return;
        }
        double elapsed = (System.nanoTime() - started) / 1e9;
        long here = step - stepsBefore; // steps this process took (a resumed run starts later)
        double eta = here <= 0 ? 0 : elapsed / here * (total - step);
        int width = 24;
        int done = total == 0 ? width : (int) (width * step / total);
        StringBuilder s = new StringBuilder();
        s.append('[').append("=".repeat(done)).append(done < width ? ">" : "").append(" ".repeat(Math.max(0, width - done - 1)))
                .append("] ").append(step).append('/').append(total).append(' ')
                .append(clock(elapsed)).append(" < ").append(clock(eta));
        if (last != null) {
            for (String k : new String[] {"loss", "rewards/accuracies", "rewards/margins", "kl", "eval_rewards/accuracies"}) {
                Object v = last.get(k);
                if (v instanceof Number n) {
                    s.append("  ").append(k).append(' ').append(String.format(Locale.ROOT, "%.4f", n.doubleValue()));
                }
            }
        }
        if (tty) {
            console.print("\r" + s);
            if (step == total) {
                console.println();
            }
        } else if (logged || step == total) {
            console.println(s);
        }
        console.flush();
    }

    private static String clock(double seconds) {
        long s = Math.round(seconds);
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
    }

    List<Map<String, Object>> history() {
        return history;
    }

    /** Seconds of training so far, those of the interrupted runs before a resume included. */
    double elapsedSeconds() {
        return elapsedBefore + (System.nanoTime() - started) / 1e9;
    }

    @Override
    public void close() {
        if (out != null) {
            try {
                out.close();
            } catch (IOException e) {
                // the last line was flushed already
            }
        }
    }

    /** A record with these keys first, in order. */
    static Map<String, Object> record() {
        return new LinkedHashMap<>();
    }
}
