package io.github.align4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * The folder {@code align4j merge} writes, held under the output lock training takes
 * ({@value OutputFolder#LOCK}), so that no two runs ever write one folder.
 *
 * <p>The merged model is written into the scratch folder {@value #SCRATCH} inside the output
 * folder (marked as align4j's with {@value OutputFolder#MARKER} before anything else goes in), with
 * a {@value #MANIFEST} (format {@value #FORMAT}: every file's size and SHA-256) written last. Only
 * then is it moved into place, one atomic rename per file and the manifest last, after the lock
 * file has recorded every name about to be moved. So at any moment everything align4j put in the
 * folder is provably its own: the scratch folder by its marker, a finished model by its manifest,
 * a half-moved one by the lock file's record. A run that fails removes only what it wrote (and the
 * folder, when it made it); a run after a kill lists what was left, with sizes, and
 * {@code --overwrite} removes exactly that. Anything else in the folder is never touched: the run
 * stops before it writes, naming it. What the folder holds is sorted out by {@code MergeLeftovers}.
 */
public final class MergeOutput implements AutoCloseable {
    static final String SCRATCH = ".align4j-merge.tmp";
    static final String MANIFEST = "manifest.json";
    static final String FORMAT = "align4j-merge";
    /** What a merged model folder holds: the names a record or a leftover temporary file may claim. */
    static final Pattern MODEL_FILE = Pattern.compile("config\\.json|model\\.safetensors(\\.index\\.json)?"
            + "|model-\\d{5}-of-\\d{5}\\.safetensors|tokenizer\\.json|tokenizer_config\\.json|special_tokens_map\\.json"
            + "|generation_config\\.json|vocab\\.json|merges\\.txt|tokenizer\\.model|added_tokens\\.json|" + MANIFEST);
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;

    private final Path out;
    private final boolean createdFolder;
    private final boolean createdLockFile;
    private final OutputLock lock;
    private final FileChannel channel;
    private final Set<String> wrote;
    /** The files of an earlier complete merge, replaced on commit (--overwrite); empty when none. */
    private final List<String> earlier;
    private boolean scratchMade;
    private boolean recorded;
    private boolean committed;

    private MergeOutput(Path out, boolean createdFolder, boolean createdLockFile, OutputLock lock, FileChannel channel,
            Set<String> wrote, List<String> earlier) {
        this.out = out;
        this.createdFolder = createdFolder;
        this.createdLockFile = createdLockFile;
        this.lock = lock;
        this.channel = channel;
        this.wrote = wrote;
        this.earlier = earlier;
    }

    /**
     * Creates (when missing) and locks {@code out}, and checks what it holds: nothing, or only what
     * align4j wrote there. An earlier merge's finished model is replaced on {@link #commit} with
     * {@code overwrite}, else refused; what an interrupted merge left is removed now with
     * {@code overwrite}, else listed with sizes in the refusal.
     *
     * @param say where to report what {@code overwrite} removed
     * @throws Align4jException when another run holds the folder, or it holds anything align4j did
     *     not write, or (without overwrite) an earlier merge or its leftovers
     */
    public static MergeOutput open(Path out, boolean overwrite, Consumer<String> say) {
        if (Files.isSymbolicLink(out)) {
            throw new Align4jException("--out " + out + ": is a symbolic link; give a new or empty folder");
        }
        if (Files.exists(out, NOFOLLOW) && !Files.isDirectory(out, NOFOLLOW)) {
            throw new Align4jException("--out " + out + ": is a file; give a new or empty folder");
        }
        boolean created = !Files.exists(out, NOFOLLOW);
        Path lockFile = out.resolve(OutputFolder.LOCK);
        FileChannel ch = null;
        FileLock fl;
        boolean newLock;
        try {
            Files.createDirectories(out);
            if (Files.isSymbolicLink(lockFile)) {
                throw new Align4jException(lockFile + " is a symbolic link; align4j never follows links inside the output "
                        + "folder. Remove it, or choose another folder.");
            }
            Object before = fileKey(lockFile);
            newLock = before == null;
            ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    NOFOLLOW);
            Object opened = fileKey(lockFile);
            fl = ch.tryLock();
            // a run that failed removes the lock file of a folder it made: holding the lock of a file no
            // longer at this path would keep nobody out
            if (fl != null && (opened == null || !opened.equals(fileKey(lockFile)) || !newLock && !before.equals(opened))) {
                fl.release();
                fl = null;
            }
        } catch (IOException | OverlappingFileLockException e) {
            closeQuietly(ch);
            if (created) {
                tryDelete(out);
            }
            if (e instanceof OverlappingFileLockException) {
                throw busy(out);
            }
            throw new Align4jException("--out " + out + ": cannot create or write the folder: " + OutputFolder.describe(e)
                    + ". Choose a folder you can write to, on a disk with free space.", e);
        }
        if (fl == null) {
            closeQuietly(ch);
            throw busy(out);
        }
        MergeOutput m = null;
        try {
            Set<String> wrote = readRecord(ch, lockFile);
            MergeLeftovers f = MergeLeftovers.survey(out, wrote);
            m = new MergeOutput(out, created, newLock, new OutputLock(ch, fl), ch, wrote,
                    f.complete() ? f.earlier() : List.of());
            f.refuseOrTidy(out, overwrite, say);
            return m;
        } catch (RuntimeException e) {
            if (m != null) {
                m.close();
            } else {
                new OutputLock(ch, fl).close();
            }
            throw e;
        }
    }

    private static Align4jException busy(Path out) {
        return new Align4jException("--out " + out + ": another align4j run is writing to this folder (it holds "
                + OutputFolder.LOCK + "); wait for it to finish, or choose another folder");
    }

    /**
     * Writes the merged model: {@code writer} fills a fresh scratch folder, align4j adds its
     * manifest, records the names, and moves the files into place (an earlier merge's files are
     * replaced only now). On any failure the scratch folder is removed and the earlier merge, if
     * any, is untouched unless the failure came while moving.
     */
    public void commit(Consumer<Path> writer) {
        Path scratch = out.resolve(SCRATCH);
        try {
            OutputFolder.createScratch(scratch);
            scratchMade = true;
            writer.accept(scratch);
            List<String> names = new ArrayList<>();
            try (DirectoryStream<Path> s = Files.newDirectoryStream(scratch)) {
                for (Path p : s) {
                    String n = p.getFileName().toString();
                    if (n.equals(OutputFolder.MARKER)) {
                        continue;
                    }
                    if (!Files.isRegularFile(p, NOFOLLOW) || !MODEL_FILE.matcher(n).matches() || n.equals(MANIFEST)) {
                        throw new IOException("unexpected entry in the scratch folder: " + n);
                    }
                    names.add(n);
                }
            }
            names.sort(null);
            writeManifest(scratch, names);
            Set<String> record = new LinkedHashSet<>(wrote);
            record.addAll(names);
            record.add(MANIFEST);
            record.addAll(earlier);
            recorded = true;
            writeRecord(channel, record, out.resolve(OutputFolder.LOCK));
            wrote.addAll(record);
            // from here the folder changes: the earlier merge stops being one (its manifest goes first)
            Files.deleteIfExists(out.resolve(MANIFEST));
            for (String n : names) {
                move(scratch.resolve(n), out.resolve(n));
            }
            for (String n : earlier) {
                if (!names.contains(n) && !n.equals(MANIFEST)) {
                    Files.deleteIfExists(out.resolve(n));
                }
            }
            move(scratch.resolve(MANIFEST), out.resolve(MANIFEST));
            Files.delete(scratch.resolve(OutputFolder.MARKER));
            Files.delete(scratch);
            scratchMade = false;
            syncDir(out);
            committed = true;
        } catch (IOException e) {
            throw new Align4jException("--out " + out + ": cannot write the merged model: " + OutputFolder.describe(e)
                    + ". Free disk space or fix the folder's permissions.", e);
        }
    }

    /**
     * Releases the lock. Without a {@link #commit}: removes the scratch folder, and the lock file
     * and the folder when this run made them and nothing else is there.
     */
    @Override
    public void close() {
        try {
            if (!committed) {
                if (scratchMade) {
                    try {
                        OutputFolder.deleteOurs(out.resolve(SCRATCH), true);
                    } catch (IOException | RuntimeException e) {
                        // the next run lists it and --overwrite removes it
                    }
                }
                // a lock file this run made and wrote no record into holds nothing anyone needs
                if (createdLockFile && !recorded) {
                    tryDelete(out.resolve(OutputFolder.LOCK)); // still locked: no run can take it meanwhile
                }
                if (createdFolder) {
                    tryDelete(out); // only when empty
                }
            }
        } finally {
            lock.close();
        }
    }

    private static void writeManifest(Path dir, List<String> names) throws IOException {
        ObjectNode m = Checkpoints.json().createObjectNode();
        m.put("format", FORMAT);
        m.put("version", 1);
        ArrayNode files = m.putArray("files");
        for (String n : names) {
            Path f = dir.resolve(n);
            ObjectNode e = files.addObject();
            e.put("path", n);
            e.put("bytes", Files.size(f));
            e.put("sha256", Checkpoints.sha256(f, true));
        }
        Path file = dir.resolve(MANIFEST);
        Files.write(file, Checkpoints.json().writeValueAsBytes(m), StandardOpenOption.CREATE_NEW);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ch.force(true);
        }
        syncDir(dir);
    }

    // ---- the lock file's record --------------------------------------------------------------------

    /** The merged model's files the lock file records as align4j's; refuses a lock file align4j did not write. */
    private static Set<String> readRecord(FileChannel ch, Path lockFile) {
        try {
            long size = ch.size();
            Set<String> wrote = new LinkedHashSet<>();
            if (size == 0) {
                return wrote;
            }
            if (size > 1 << 16) {
                throw new IOException("too large");
            }
            ByteBuffer buf = ByteBuffer.allocate((int) size);
            while (buf.hasRemaining() && ch.read(buf, buf.position()) >= 0) {
                // read it all
            }
            JsonNode n = Checkpoints.json().readTree(buf.array());
            if (n == null || !OutputFolder.LOCK_FORMAT.equals(n.path("format").asText()) || !n.path("wrote").isArray()) {
                throw new IOException("not an align4j record");
            }
            n.get("wrote").forEach(e -> {
                if (MODEL_FILE.matcher(e.asText("")).matches()) { // only names a merge writes count
                    wrote.add(e.asText());
                }
            });
            return wrote;
        } catch (IOException | RuntimeException e) {
            throw new Align4jException(lockFile + ": this file is not one align4j wrote (" + e.getMessage() + "), and "
                    + "align4j will not overwrite it. Move it out of the folder, or choose another folder.", e);
        }
    }

    private static void writeRecord(FileChannel ch, Set<String> wrote, Path lockFile) throws IOException {
        ObjectNode n = Checkpoints.json().createObjectNode();
        n.put("format", OutputFolder.LOCK_FORMAT);
        n.put("version", 1);
        wrote.forEach(n.putArray("wrote")::add);
        ByteBuffer buf = ByteBuffer.wrap(Checkpoints.json().writeValueAsBytes(n));
        int len = buf.remaining();
        while (buf.hasRemaining()) {
            ch.write(buf, buf.position());
        }
        ch.truncate(len);
        ch.force(true);
    }

    // ---- files -------------------------------------------------------------------------------------

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void syncDir(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // not every platform can open a folder; the renames are still atomic
        }
    }

    private static Object fileKey(Path p) throws IOException {
        if (!Files.exists(p, NOFOLLOW)) {
            return null;
        }
        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, NOFOLLOW);
        return a.fileKey() != null ? a.fileKey() : p.toAbsolutePath();
    }

    private static void tryDelete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            // not empty, or not ours to remove: left
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
}
