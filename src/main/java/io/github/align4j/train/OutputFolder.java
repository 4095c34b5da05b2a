package io.github.align4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * What align4j may write, replace and delete inside an output folder, and how it knows what it
 * wrote. It touches only these names, and each only when it can show that it wrote it:
 *
 * <ul>
 *   <li>{@code checkpoint-N/} and {@code final/}: a real folder (not a link) whose
 *       {@code manifest.json} is an align4j checkpoint manifest and which holds nothing but the
 *       files that manifest lists.
 *   <li>scratch folders {@code .X.tmp/}, {@code .X.old/}, {@code .X.deleting/} (X one of the names
 *       above or {@code metrics.jsonl}): a real folder holding the marker file
 *       {@value #MARKER}, which align4j writes first into every scratch folder it creates, or an
 *       align4j manifest (a checkpoint moved aside), or nothing at all (nothing can be lost).
 *   <li>{@code metrics.jsonl}: a regular file that the lock file records as written by align4j.
 *   <li>{@value #LOCK}: the OS lock that keeps a second run out, and the record of the plain files
 *       align4j wrote in the folder (JSON: {@code {"format": "align4j-output", "wrote": [...]}}).
 * </ul>
 *
 * <p>Anything else under one of these names (a user's own {@code final/}, a symbolic link, a file
 * where a folder should be) makes a run stop before it writes anything, with a message listing
 * it. Nothing inside the folder is ever reached through a symbolic link: links are refused, never
 * followed, and never deleted.
 */
final class OutputFolder {
    static final String LOCK = ".align4j.lock";
    static final String MARKER = ".align4j-scratch";
    static final String METRICS = "metrics.jsonl";
    static final String LOCK_FORMAT = "align4j-output";
    private static final Pattern CHECKPOINT = Pattern.compile("checkpoint-\\d+|" + Checkpoints.FINAL);
    private static final Pattern SCRATCH = Pattern.compile("\\.(.+)\\.(tmp|old|deleting)");
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;

    private OutputFolder() {}

    /** Whether a name is a checkpoint folder's: {@code checkpoint-N} or {@code final}. */
    static boolean isCheckpointName(String n) {
        return CHECKPOINT.matcher(n).matches();
    }

    /** X of a scratch name {@code .X.tmp}, {@code .X.old}, {@code .X.deleting} that align4j uses, else null. */
    static String scratchOf(String n) {
        var m = SCRATCH.matcher(n);
        if (!m.matches()) {
            return null;
        }
        String x = m.group(1);
        return isCheckpointName(x) || (x.equals(METRICS) && m.group(2).equals("tmp")) ? x : null;
    }

    // ---- what align4j wrote ------------------------------------------------------------------------

    /**
     * Null when {@code dir} is a checkpoint folder align4j wrote (a real folder with an align4j
     * manifest and nothing the manifest does not list), otherwise why it is not.
     */
    static String notACheckpointOfOurs(Path dir) {
        return check(dir, false);
    }

    /**
     * Null when {@code dir} is a scratch folder of align4j (its marker, or an align4j manifest, or
     * empty), otherwise why it is not.
     */
    static String notScratchOfOurs(Path dir) {
        return check(dir, true);
    }

    private static String check(Path dir, boolean scratch) {
        if (Files.isSymbolicLink(dir)) {
            return "a symbolic link";
        }
        if (!Files.isDirectory(dir, NOFOLLOW)) {
            return Files.exists(dir, NOFOLLOW) ? "not a folder" : "missing";
        }
        Set<String> allowed = new HashSet<>();
        boolean marked = scratch && Files.isRegularFile(dir.resolve(MARKER), NOFOLLOW);
        if (!marked) {
            Path mf = dir.resolve(Checkpoints.MANIFEST);
            if (Files.isRegularFile(mf, NOFOLLOW)) {
                JsonNode m;
                try {
                    m = Checkpoints.json().readTree(mf.toFile());
                } catch (IOException | RuntimeException e) {
                    m = null;
                }
                if (m == null || !Checkpoints.FORMAT.equals(m.path("format").asText()) || !m.path("files").isArray()) {
                    return Checkpoints.MANIFEST + " is not an align4j checkpoint manifest";
                }
                m.get("files").forEach(e -> allowed.add(e.path("path").asText("")));
                allowed.add(Checkpoints.MANIFEST);
                allowed.add(MARKER);
            } else if (Files.exists(mf, NOFOLLOW)) {
                return Checkpoints.MANIFEST + " is a symbolic link or not a file";
            } else if (!scratch || !isEmpty(dir)) {
                return "no align4j " + Checkpoints.MANIFEST + (scratch ? " or " + MARKER : "");
            }
        }
        List<String> links = new ArrayList<>();
        Set<String> foreign = new TreeSet<>();
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes a) {
                    String rel = dir.relativize(f).toString().replace('\\', '/');
                    if (a.isSymbolicLink() || a.isOther()) {
                        links.add(rel);
                    } else if (!marked && !allowed.contains(rel)) {
                        foreign.add(rel);
                    }
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            return "cannot be listed: " + e.getMessage();
        }
        if (!links.isEmpty()) {
            return "holds symbolic links or special files: " + shortList(links);
        }
        if (!foreign.isEmpty()) {
            return "holds files its manifest does not list: " + shortList(foreign);
        }
        return null;
    }

    private static boolean isEmpty(Path dir) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            return !s.iterator().hasNext();
        } catch (IOException e) {
            return false;
        }
    }

    private static String shortList(java.util.Collection<String> names) {
        List<String> l = new ArrayList<>(names);
        return l.size() <= 5 ? String.join(", ", l) : String.join(", ", l.subList(0, 5)) + " and " + (l.size() - 5) + " more";
    }

    /**
     * Everything in {@code output} under a name align4j uses that align4j cannot show it wrote,
     * each as "name (why)"; empty when the folder is safe to work in.
     *
     * @param wrote the plain files the lock file records as align4j's
     */
    static List<String> inTheWay(Path output, Set<String> wrote) {
        List<String> found = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(output)) {
            for (Path p : s) {
                String n = p.getFileName().toString();
                String why = null;
                if (isCheckpointName(n)) {
                    why = notACheckpointOfOurs(p);
                } else if (scratchOf(n) != null) {
                    why = notScratchOfOurs(p);
                } else if (n.equals(METRICS)) {
                    if (Files.isSymbolicLink(p)) {
                        why = "a symbolic link";
                    } else if (!Files.isRegularFile(p, NOFOLLOW)) {
                        why = "not a regular file";
                    } else if (!wrote.contains(METRICS)) {
                        why = LOCK + " has no record that align4j wrote it";
                    }
                }
                if (why != null) {
                    found.add(n + (Files.isDirectory(p, NOFOLLOW) ? "/" : "") + " (" + why + ")");
                }
            }
        } catch (IOException e) {
            throw new Align4jException(output + ": cannot list the folder: " + e.getMessage(), e);
        }
        found.sort(null);
        return found;
    }

    // ---- deleting ----------------------------------------------------------------------------------

    /**
     * Deletes a checkpoint or scratch folder that align4j wrote; refuses (Align4jException) one it
     * did not. Links are never followed. The manifest and the marker go last, so that a kill midway
     * leaves a folder that is still recognisably align4j's (or an empty one).
     */
    static void deleteOurs(Path dir, boolean scratch) throws IOException {
        if (!Files.exists(dir, NOFOLLOW)) {
            return;
        }
        String why = scratch ? notScratchOfOurs(dir) : notACheckpointOfOurs(dir);
        if (why != null) {
            throw new Align4jException(dir + ": not deleted: align4j did not write it (" + why + "). align4j deletes only "
                    + "what it wrote; move it out of the folder yourself.");
        }
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                if (a.isSymbolicLink() || a.isOther()) {
                    throw new IOException(f + ": a symbolic link or special file appeared; left alone");
                }
                if (f.getParent().equals(dir) && (f.getFileName().toString().equals(Checkpoints.MANIFEST)
                        || f.getFileName().toString().equals(MARKER))) {
                    return FileVisitResult.CONTINUE;
                }
                Files.delete(f);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                if (e != null) {
                    throw e;
                }
                if (!d.equals(dir)) {
                    Files.delete(d);
                }
                return FileVisitResult.CONTINUE;
            }
        });
        Files.deleteIfExists(dir.resolve(Checkpoints.MANIFEST));
        Files.deleteIfExists(dir.resolve(MARKER));
        Files.delete(dir);
    }

    /** Creates a new scratch folder (it must not exist) and writes its marker first. */
    static Path createScratch(Path dir) throws IOException {
        Files.createDirectory(dir);
        Files.write(dir.resolve(MARKER), new byte[0], StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        return dir;
    }

    // ---- the lock ----------------------------------------------------------------------------------

    /**
     * Creates and locks the output folder, refuses it when something align4j did not write is in
     * its way, tidies what an interrupted run left there, and clears (overwrite) or checks (a fresh
     * run) an earlier run's files.
     *
     * @param overwrite what a fresh run does with an earlier run: true replaces it, false or null (not set) refuses
     */
    static OutputLock open(Path output, boolean resume, Boolean overwrite, Consumer<String> say) {
        Path lockFile = output.resolve(LOCK);
        FileChannel ch = null;
        FileLock lock;
        try {
            Files.createDirectories(output);
            ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    NOFOLLOW);
            lock = ch.tryLock();
        } catch (IOException | OverlappingFileLockException e) {
            closeQuietly(ch);
            if (e instanceof OverlappingFileLockException) {
                throw new Align4jException(output + ": another training run in this process is writing to this folder");
            }
            if (Files.isSymbolicLink(lockFile)) {
                throw new Align4jException(lockFile + " is a symbolic link; align4j never follows links inside the output "
                        + "folder. Remove it, or choose another folder.");
            }
            throw new Align4jException(output + ": cannot create or write the output folder: " + describe(e)
                    + ". Choose a folder you can write to, on a disk with free space.", e);
        }
        if (lock == null) {
            closeQuietly(ch);
            throw new Align4jException(output + ": another align4j run is writing to this folder (it holds "
                    + LOCK + "); wait for it to finish or choose another folder");
        }
        OutputLock held = new OutputLock(ch, lock);
        try {
            Set<String> wrote = readRecord(ch, lockFile);
            List<String> blocking = inTheWay(output, wrote);
            if (!blocking.isEmpty()) {
                throw new Align4jException(output + " holds what align4j did not write, under names it "
                        + (resume ? "continues" : "writes") + ": " + String.join(", ", blocking) + ". align4j writes, "
                        + "replaces and deletes only what its manifests and " + LOCK + " say it wrote, and never follows "
                        + "a symbolic link in the output folder. Move these out of the folder yourself, or choose "
                        + "another output folder.");
            }
            cleanTemporaries(output);
            if (!resume && Boolean.TRUE.equals(overwrite)) {
                List<Path> gone = clearEarlierRun(output, wrote);
                if (!gone.isEmpty()) {
                    say.accept("overwrite: removed the earlier run's "
                            + gone.stream().map(q -> q.getFileName().toString()).collect(Collectors.joining(", "))
                            + " from " + output);
                }
            } else if (!resume) {
                List<Path> earlier = Checkpoints.candidates(output);
                if (!earlier.isEmpty()) {
                    throw new Align4jException(output + " already holds checkpoints of an earlier run ("
                            + earlier.stream().map(q -> q.getFileName().toString()).collect(Collectors.joining(", "))
                            + "). Continue that run with --resume (Builder.resume(true)), replace it with --overwrite "
                            + "(Builder.overwrite(true)), or choose a new folder.");
                }
            }
            wrote.add(METRICS); // before the trainer creates it
            writeRecord(ch, wrote, lockFile);
            return held;
        } catch (RuntimeException e) {
            held.close();
            throw e;
        }
    }

    /** The plain files the lock file records as align4j's; refuses a lock file align4j did not write. */
    private static Set<String> readRecord(FileChannel ch, Path lockFile) {
        try {
            long size = ch.size();
            if (size == 0) {
                return new LinkedHashSet<>(); // new, or left by an older align4j
            }
            if (size > 1 << 16) {
                throw new IOException("too large");
            }
            ByteBuffer buf = ByteBuffer.allocate((int) size);
            while (buf.hasRemaining() && ch.read(buf, buf.position()) >= 0) {
                // read it all
            }
            JsonNode n = Checkpoints.json().readTree(buf.array());
            if (n == null || !LOCK_FORMAT.equals(n.path("format").asText()) || !n.path("wrote").isArray()) {
                throw new IOException("not an align4j record");
            }
            Set<String> wrote = new LinkedHashSet<>();
            n.get("wrote").forEach(e -> {
                if (e.asText("").equals(METRICS)) { // the only plain file it writes there
                    wrote.add(METRICS);
                }
            });
            return wrote;
        } catch (IOException | RuntimeException e) {
            throw new Align4jException(lockFile + ": this file is not one align4j wrote (" + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j
                    ? io.github.align4j.internal.Texts.jsonError("not valid JSON", j) : e.getMessage()) + "), and "
                    + "align4j will not overwrite it. Move it out of the folder, or choose another output folder.", e);
        }
    }

    private static void writeRecord(FileChannel ch, Set<String> wrote, Path lockFile) {
        ObjectNode n = Checkpoints.json().createObjectNode();
        n.put("format", LOCK_FORMAT);
        n.put("version", 1);
        wrote.forEach(n.putArray("wrote")::add);
        try {
            byte[] b = Checkpoints.json().writeValueAsBytes(n);
            if (ch.size() == b.length) {
                ByteBuffer old = ByteBuffer.allocate(b.length);
                while (old.hasRemaining() && ch.read(old, old.position()) >= 0) {
                    // read it all
                }
                if (java.util.Arrays.equals(old.array(), b)) {
                    return; // the usual case: the same record; never truncated, so a kill cannot lose it
                }
            }
            ByteBuffer buf = ByteBuffer.wrap(b); // the record only grows: overwrite in place, then cut
            while (buf.hasRemaining()) {
                ch.write(buf, buf.position());
            }
            ch.truncate(b.length);
            ch.force(true);
        } catch (IOException e) {
            throw new Align4jException(lockFile + ": cannot write: " + describe(e) + ". Free disk space or fix the "
                    + "folder's permissions.", e);
        }
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // nothing to do
            }
        }
    }

    static String describe(Exception e) {
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied (" + e.getMessage() + ")";
        }
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) {
            return f.getReason() + (f.getFile() == null ? "" : " (" + f.getFile() + ")");
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    // ---- tidying -----------------------------------------------------------------------------------

    /**
     * Tidies what an interrupted run left behind: its scratch folders are removed, and a checkpoint
     * moved aside while being replaced ({@code .X.old}) is moved back when X is missing. Only
     * scratch folders align4j can show it made are touched ({@link #inTheWay} refuses the others
     * first).
     */
    static void cleanTemporaries(Path output) {
        if (output == null || !Files.isDirectory(output)) {
            return;
        }
        List<Path> scratch = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(output)) {
            for (Path p : s) {
                if (scratchOf(p.getFileName().toString()) != null && notScratchOfOurs(p) == null) {
                    scratch.add(p);
                }
            }
        } catch (IOException e) {
            throw new Align4jException(output + ": cannot list the folder: " + e.getMessage(), e);
        }
        for (Path p : scratch) {
            String n = p.getFileName().toString();
            try {
                if (n.endsWith(".old")) {
                    Path real = output.resolve(scratchOf(n));
                    if (!Files.exists(real, NOFOLLOW) && notACheckpointOfOurs(p) == null) {
                        Checkpoints.move(p, real);
                        continue;
                    }
                }
                deleteOurs(p, true);
            } catch (IOException e) {
                throw new Align4jException(p + ": cannot remove this temporary folder of an earlier run: " + e.getMessage(), e);
            }
        }
    }

    /**
     * Removes the checkpoints and metrics of an earlier run (checkpoint-N and final folders that
     * align4j wrote, and metrics.jsonl when the lock file records it); other files stay.
     */
    static List<Path> clearEarlierRun(Path output, Set<String> wrote) {
        List<Path> removed = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(output)) {
            List<Path> ours = new ArrayList<>();
            for (Path p : s) {
                if (isCheckpointName(p.getFileName().toString()) && notACheckpointOfOurs(p) == null) {
                    ours.add(p);
                }
            }
            ours.sort(null);
            for (Path d : ours) {
                deleteOurs(d, false);
                removed.add(d);
            }
            Path metrics = output.resolve(METRICS);
            if (wrote.contains(METRICS) && Files.isRegularFile(metrics, NOFOLLOW) && Files.deleteIfExists(metrics)) {
                removed.add(metrics);
            }
        } catch (IOException e) {
            throw new Align4jException(output + ": cannot remove the earlier run's files: " + e.getMessage(), e);
        }
        return removed;
    }
}
