package io.github.align4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where metrics go: {@code metrics.jsonl} in the output folder (one JSON object per line, TRL's
 * key names) and the in-memory history that checkpoints record; a listener of the trainer.
 */
final class MetricsLog implements AutoCloseable, TrainingListener {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Writer out;
    private Path file;
    private final List<Map<String, Object>> history = new ArrayList<>();
    private final long started = System.nanoTime();
    private double elapsedBefore;

    MetricsLog(Path dir, boolean append) {
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
    static MetricsLog resumed(Path dir, List<Map<String, Object>> history, double elapsedBefore) {
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
        MetricsLog log = new MetricsLog(dir, true);
        log.history.addAll(history);
        log.elapsedBefore = elapsedBefore;
        return log;
    }

    /** Appends one record (keys in insertion order) and flushes it. */
    @Override
    public void onLog(Map<String, Object> record) {
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
