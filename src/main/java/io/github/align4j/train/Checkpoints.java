package io.github.align4j.train;

import ai.djl.ndarray.NDArray;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.SafeTensors;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Checkpoints as transformers names them ({@code OUTPUT/checkpoint-<step>/}, {@code OUTPUT/final/}):
 * the policy in Hugging Face format, {@code optimizer.safetensors} (AdamW moments),
 * {@code trainer_state.json} (step, config, metrics history and everything a resume needs) and
 * {@code manifest.json} (size and SHA-256 of every other file), written last.
 *
 * <p>Each checkpoint is written into {@code OUTPUT/.<name>.tmp/}, every file is flushed to disk,
 * and only then is the folder renamed to its real name; a crash at any moment leaves either the
 * complete new checkpoint or none (plus a temporary folder that the next run removes). Loading
 * verifies the manifest and reads the rest like a download ({@link RestoreChecks}); a damaged
 * checkpoint is skipped with a warning in favour of an older one.
 * Only what align4j can show it wrote is ever replaced, renamed or deleted ({@link OutputFolder}).
 */
final class Checkpoints {
    static final String MANIFEST = "manifest.json";
    static final String STATE = "trainer_state.json";
    static final String OPTIMIZER = "optimizer.safetensors";
    /** F32 weights, written only when model.safetensors is stored in a narrower type (BF16). */
    static final String MASTER = "master_weights.safetensors";
    /** TR-DPO's reference as the run has mixed it (sync_ref_model), float32: a resume continues from it. */
    static final String REFERENCE = "ref_model.safetensors";
    static final String FORMAT = "align4j-checkpoint";
    static final String FINAL = "final";
    private static final Pattern NAME = Pattern.compile("checkpoint-(\\d+)");
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    /** A test hook that runs before each file of a checkpoint is finished (simulates a full disk). */
    interface Fault {
        void before(Path file) throws IOException;
    }

    static volatile Fault fault;

    private Checkpoints() {}

    /** A complete checkpoint whose files match its manifest. */
    record Found(Path dir, long step, ObjectNode state) {}

    /**
     * Writes a checkpoint and returns its folder.
     *
     * @param resume the trainer's resume state (stored under "align4j" in trainer_state.json)
     * @throws Align4jException when it cannot be written (full disk, no permission); the temporary
     *     folder is removed and every earlier checkpoint is left as it was
     */
    static Path save(Path output, String name, CausalLM policy, Path tokenizerDir, AdamW optimizer, TrainConfig cfg,
            List<Map<String, Object>> history, long globalStep, ObjectNode resume) {
        return save(output, name, policy, tokenizerDir, optimizer, cfg, history, globalStep, resume, null);
    }

    /**
     * {@link #save(Path, String, CausalLM, Path, AdamW, TrainConfig, List, long, ObjectNode)}, with the
     * weights of a reference the run changes (TR-DPO) in {@link #REFERENCE} when not null.
     */
    static Path save(Path output, String name, CausalLM policy, Path tokenizerDir, AdamW optimizer, TrainConfig cfg,
            List<Map<String, Object>> history, long globalStep, ObjectNode resume, Map<String, NDArray> reference) {
        Path target = output.resolve(name);
        Path tmp = output.resolve("." + name + ".tmp");
        try {
            Files.createDirectories(output);
            OutputFolder.deleteOurs(tmp, true);
            String notOurs = Files.exists(target, LinkOption.NOFOLLOW_LINKS) ? OutputFolder.notACheckpointOfOurs(target) : null;
            if (notOurs != null) { // never replace what align4j did not write
                throw new Align4jException(target + " was not written by align4j (" + notOurs + "), so it is not replaced. "
                        + "Move it out of the folder yourself");
            }
            OutputFolder.createScratch(tmp);
            boolean narrow = false;
            if (policy.adapterConfig() != null) { // LoRA: the adapter as PEFT saves it (float32), not the frozen base
                policy.saveAdapter(tmp);
            } else {
                policy.save(tmp, tokenizerDir, 5_000_000_000L);
                try (SafeTensors.Checkpoint c = SafeTensors.open(tmp)) {
                    narrow = c.dominantDType() != SafeTensors.DType.F32;
                }
            }
            if (narrow) { // resume from the exact F32 weights, not their BF16 rounding
                List<SafeTensors.Entry> entries = new ArrayList<>();
                addArrays(entries, "", policy.parameters());
                writeSafetensors(tmp, MASTER, entries);
            }
            if (optimizer != null) {
                List<SafeTensors.Entry> entries = new ArrayList<>();
                addArrays(entries, "exp_avg.", optimizer.firstMoments());
                addArrays(entries, "exp_avg_sq.", optimizer.secondMoments());
                writeSafetensors(tmp, OPTIMIZER, entries);
            }
            if (reference != null) {
                List<SafeTensors.Entry> entries = new ArrayList<>();
                addArrays(entries, "", reference);
                writeSafetensors(tmp, REFERENCE, entries);
            }
            ObjectNode state = JSON.createObjectNode();
            state.put("global_step", globalStep);
            state.put("optimizer_step", optimizer == null ? 0 : optimizer.steps());
            state.set("config", JSON.valueToTree(cfg.asMap()));
            state.set("log_history", JSON.valueToTree(history));
            if (resume != null) {
                state.set("align4j", resume);
            }
            hook(tmp.resolve(STATE));
            Files.write(tmp.resolve(STATE), JSON.writeValueAsBytes(state));
            writeManifest(tmp, name, globalStep);
            // the manifest shows the folder is align4j's from here on: the marker need not go under the real name
            Files.delete(tmp.resolve(OutputFolder.MARKER));
            syncDir(tmp);
            Path old = null;
            if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                old = output.resolve("." + name + ".old");
                OutputFolder.deleteOurs(old, true);
                move(target, old);
            }
            move(tmp, target);
            syncDir(output);
            if (old != null) {
                OutputFolder.deleteOurs(old, true);
            }
            return target;
        } catch (IOException | RuntimeException e) {
            try {
                OutputFolder.deleteOurs(tmp, true);
            } catch (IOException | RuntimeException ignored) {
                // the next run removes it
            }
            String why = e instanceof Align4jException a ? a.getMessage() : describe(e);
            String last = newestCompleteName(output);
            throw new Align4jException(target + ": cannot write the checkpoint: " + why + ". Nothing was replaced"
                    + (last == null ? "" : "; the last complete checkpoint, " + output.resolve(last) + ", is intact")
                    + ". Free disk space or fix the folder's permissions, then continue with --resume"
                    + " (PreferenceTrainer.Builder.resume(true)).", e);
        }
    }

    static String describe(Throwable e) {
        String m = e.getMessage();
        if (e instanceof NoSuchFileException) {
            return "no such file or folder: " + m;
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied: " + m;
        }
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) {
            return f.getReason() + (f.getFile() == null ? "" : " (" + f.getFile() + ")");
        }
        return m == null ? e.getClass().getSimpleName() : m;
    }

    private static void hook(Path file) throws IOException {
        Fault f = fault;
        if (f != null) {
            f.before(file);
        }
    }

    private static void addArrays(List<SafeTensors.Entry> entries, String prefix, Map<String, NDArray> arrays) {
        arrays.forEach((k, a) -> entries.add(new SafeTensors.Entry(prefix + k, a.getShape().getShape(), () -> {
            NDArray f = a.getDevice().isGpu() || a.getDataType() != ai.djl.ndarray.types.DataType.FLOAT32
                    ? a.toDevice(ai.djl.Device.cpu(), true).toType(ai.djl.ndarray.types.DataType.FLOAT32, false) : a;
            return f.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        })));
    }

    /** SafeTensors.write names its file model.safetensors: write it in a side folder and move it. */
    private static void writeSafetensors(Path dir, String fileName, List<SafeTensors.Entry> entries) throws IOException {
        Path side = dir.resolve("." + fileName + ".d");
        hook(dir.resolve(fileName));
        SafeTensors.write(side, entries, SafeTensors.DType.F32, Long.MAX_VALUE);
        Files.move(side.resolve("model.safetensors"), dir.resolve(fileName));
        deleteTree(side);
    }

    static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to);
        }
    }

    // ---- the manifest ------------------------------------------------------------------------------

    private static void writeManifest(Path dir, String name, long step) throws IOException {
        ObjectNode m = JSON.createObjectNode();
        m.put("format", FORMAT);
        m.put("version", 1);
        m.put("name", name);
        m.put("global_step", step);
        ArrayNode files = m.putArray("files");
        List<Path> all;
        try (Stream<Path> s = Files.walk(dir)) {
            all = s.filter(f -> Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)).sorted().toList();
        }
        for (Path f : all) {
            String rel = dir.relativize(f).toString().replace('\\', '/');
            if (rel.equals(MANIFEST) || rel.equals(OutputFolder.MARKER)) {
                continue;
            }
            ObjectNode e = files.addObject();
            e.put("path", rel);
            e.put("bytes", Files.size(f));
            e.put("sha256", sha256(f, true));
        }
        Path file = dir.resolve(MANIFEST);
        hook(file);
        Files.write(file, JSON.writeValueAsBytes(m));
        force(file);
    }

    /** SHA-256 of a file in hex; with sync, the file is also flushed to the disk. */
    static String sha256(Path f, boolean sync) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
            while (ch.read(buf) >= 0) {
                buf.flip();
                md.update(buf);
                buf.clear();
            }
            if (sync) {
                ch.force(true);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static void force(Path f) throws IOException {
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    /** Flushes a folder's entries (the renames) to the disk, where the platform allows it. */
    private static void syncDir(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // not every platform can open a folder; the rename is still atomic
        }
    }

    /** Step of a checkpoint folder's name: checkpoint-N → N; final → from its manifest; else −1. */
    static long stepOf(Path dir) {
        String n = dir.getFileName().toString();
        Matcher mt = NAME.matcher(n);
        if (mt.matches()) {
            try {
                return Long.parseLong(mt.group(1));
            } catch (NumberFormatException e) {
                return -1;
            }
        }
        if (n.equals(FINAL)) {
            try {
                return JSON.readTree(dir.resolve(MANIFEST).toFile()).path("global_step").asLong(-1);
            } catch (IOException | RuntimeException e) {
                return Long.MAX_VALUE; // damaged: try it first so that the warning names it
            }
        }
        return -1;
    }

    /** Checkpoint folders (checkpoint-N and final) in output, newest first (final wins a tie). */
    static List<Path> candidates(Path output) {
        if (output == null || !Files.isDirectory(output)) {
            return List.of();
        }
        List<Path> dirs;
        try (Stream<Path> s = Files.list(output)) {
            dirs = s.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))
                    .filter(p -> NAME.matcher(p.getFileName().toString()).matches() || p.getFileName().toString().equals(FINAL))
                    .toList();
        } catch (IOException e) {
            throw new Align4jException(output + ": cannot list the folder: " + e.getMessage(), e);
        }
        Map<Path, Long> steps = new LinkedHashMap<>();
        dirs.forEach(d -> steps.put(d, stepOf(d)));
        return dirs.stream().filter(d -> steps.get(d) >= 0)
                .sorted(Comparator.<Path>comparingLong(steps::get).reversed()
                        .thenComparing(d -> d.getFileName().toString().equals(FINAL) ? 0 : 1))
                .toList();
    }

    /**
     * The newest complete checkpoint in output, verified against its manifest (checksums included),
     * or null when there is none. Each damaged one met on the way is reported through warn.
     */
    static Found latest(Path output, Consumer<String> warn) {
        return latest(output, Long.MAX_VALUE, warn);
    }

    /**
     * {@link #latest(Path, Consumer)} for a run of {@code maxStep} steps: a checkpoint whose files
     * match their manifest is read like a downloaded file, since anyone can edit it and rehash the
     * manifest. Its trainer_state.json must be at most {@link RestoreChecks#MAX_STATE_BYTES}, its global_step
     * a whole number in [0, maxStep] equal to the folder's step, and its log_history no longer than
     * such a run writes ({@link RestoreChecks#prescanState}); otherwise the resume is refused, not skipped.
     *
     * @throws Align4jException naming the file and the key when the checkpoint is out of range
     */
    static Found latest(Path output, long maxStep, Consumer<String> warn) {
        for (Path d : candidates(output)) {
            String bad = RestoreChecks.verify(d, true);
            if (bad == null) {
                return RestoreChecks.readState(d, maxStep);
            }
            if (warn != null) {
                warn.accept("warning: " + d + " is damaged (" + bad + "); skipped in favour of an older checkpoint");
            }
        }
        return null;
    }

    private static String newestCompleteName(Path output) {
        try {
            for (Path d : candidates(output)) {
                if (RestoreChecks.verify(d, false) == null) {
                    return d.getFileName().toString();
                }
            }
        } catch (RuntimeException e) {
            // only for the message
        }
        return null;
    }

    /**
     * Keeps the newest {@code keep} complete {@code checkpoint-N} folders and deletes older complete
     * ones ({@code final} is never pruned). A damaged folder is neither counted nor deleted; the
     * newest complete checkpoint is always kept.
     */
    static List<Path> prune(Path output, int keep) {
        List<Path> removed = new ArrayList<>();
        if (keep <= 0) {
            return removed;
        }
        int kept = 0;
        for (Path d : candidates(output)) {
            if (d.getFileName().toString().equals(FINAL) || RestoreChecks.verify(d, false) != null
                    || OutputFolder.notACheckpointOfOurs(d) != null) {
                continue;
            }
            if (kept < keep) {
                kept++;
                continue;
            }
            Path gone = output.resolve("." + d.getFileName() + ".deleting");
            try {
                if (Files.exists(gone, LinkOption.NOFOLLOW_LINKS)) {
                    continue; // left by an earlier run and not align4j's (the run refused to start otherwise)
                }
                move(d, gone); // a crash mid-delete leaves a scratch name, never a torn checkpoint-N
                OutputFolder.deleteOurs(gone, true);
                removed.add(d);
            } catch (IOException e) {
                throw new Align4jException(d + ": cannot delete this old checkpoint (save_total_limit " + keep + "): "
                        + e.getMessage(), e);
            }
        }
        return removed;
    }

    // ---- reading a checkpoint ----------------------------------------------------------------------

    /** Name → F32 values of every tensor in a safetensors file (or a model folder); for tests and small files. */
    static Map<String, float[]> readFloats(Path fileOrDir) {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (SafeTensors.Checkpoint c = SafeTensors.open(fileOrDir)) {
            for (String n : c.names()) {
                SafeTensors.Tensor t = c.get(n);
                ByteBuffer b = t.asFloat32().order(ByteOrder.LITTLE_ENDIAN);
                float[] v = new float[Math.toIntExact(t.size())];
                b.asFloatBuffer().get(v);
                out.put(n, v);
            }
        }
        return out;
    }

    static ObjectMapper json() {
        return JSON;
    }

    /** Deletes a folder this process just made inside a scratch folder; links are never followed, and refused. */
    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (!Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException(p + ": not a folder (or a symbolic link); left alone");
        }
        try (Stream<Path> s = Files.walk(p)) { // Files.walk does not follow links without FOLLOW_LINKS
            List<Path> all = s.sorted(Comparator.reverseOrder()).toList();
            for (Path q : all) {
                if (Files.isSymbolicLink(q)) {
                    throw new IOException(q + ": a symbolic link; left alone");
                }
            }
            for (Path q : all) {
                Files.delete(q);
            }
        }
    }
}
