package io.github.align4j.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Texts;
import io.github.align4j.model.SafeTensors;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A checkpoint read like a download, since anyone can edit its files and rehash the manifest: its
 * files against {@code manifest.json} (sizes, SHA-256), {@code trainer_state.json} streamed and
 * bounded before it becomes a tree, and every tensor copied into the model checked for shape and
 * finite values (AdamW's second moments: not negative), and the resume state's numbers checked against
 * the run. {@link Checkpoints} finds and writes checkpoints; {@link RunState} restores from them.
 */
final class RestoreChecks {
    private RestoreChecks() {}

    /**
     * Checks a checkpoint folder against its manifest.
     *
     * @param full also compare SHA-256 checksums (otherwise sizes only)
     * @return null when it is complete and intact, otherwise what is wrong
     */
    static String verify(Path dir, boolean full) {
        Path mf = dir.resolve(Checkpoints.MANIFEST);
        if (Files.isSymbolicLink(dir) || !Files.isRegularFile(mf, LinkOption.NOFOLLOW_LINKS)) {
            return "no " + Checkpoints.MANIFEST + " (written by an older align4j, or torn)";
        }
        JsonNode m;
        try {
            m = Checkpoints.json().readTree(mf.toFile());
        } catch (IOException | RuntimeException e) {
            return Checkpoints.MANIFEST + " is not valid JSON";
        }
        if (m == null || !Checkpoints.FORMAT.equals(m.path("format").asText()) || !m.path("files").isArray()) {
            return Checkpoints.MANIFEST + " is not an align4j checkpoint manifest";
        }
        boolean hasState = false;
        for (JsonNode e : m.get("files")) {
            String rel = e.path("path").asText("");
            Path f = dir.resolve(rel).normalize();
            if (rel.isEmpty() || !f.startsWith(dir.normalize())) {
                return Checkpoints.MANIFEST + " lists a bad path '" + rel + "'";
            }
            hasState |= rel.equals(Checkpoints.STATE);
            try {
                if (!Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
                    return rel + " is missing (or a symbolic link)";
                }
                if (Files.size(f) != e.path("bytes").asLong(-1)) {
                    return rel + " has " + Files.size(f) + " bytes, the manifest says " + e.path("bytes").asLong(-1);
                }
                if (full && !Checkpoints.sha256(f, false).equalsIgnoreCase(e.path("sha256").asText())) {
                    return rel + " does not match its SHA-256 checksum";
                }
            } catch (IOException ex) {
                return rel + " cannot be read: " + ex.getMessage();
            }
        }
        return hasState ? null : Checkpoints.MANIFEST + " does not list " + Checkpoints.STATE;
    }

    /** The most trainer_state.json a resume reads (a run logging every step for ~40 000 steps writes this much). */
    static final long MAX_STATE_BYTES = 16L << 20;
    /** Records of log_history per step: a training log, an eval and a skipped step at most. */
    private static final int RECORDS_PER_STEP = 3;
    private static final int MAX_FIELDS_PER_RECORD = 256;
    private static final int MAX_DEPTH = 16;

    static Checkpoints.Found readState(Path d, long maxStep) {
        Path file = d.resolve(Checkpoints.STATE);
        String fix = ". The checkpoint was edited or damaged: resume from another checkpoint (move this one out of "
                + "the folder), or start a new run in a new folder.";
        try {
            long size = Files.size(file);
            if (size > MAX_STATE_BYTES) {
                throw new Align4jException(file + " has " + size + " bytes, more than the " + MAX_STATE_BYTES
                        + " bytes a resume reads" + fix);
            }
            long step = prescanState(file, maxStep, fix);
            JsonNode st = Checkpoints.json().readTree(file.toFile());
            if (!(st instanceof ObjectNode o)) {
                throw new Align4jException(file + ": not a JSON object" + fix);
            }
            long named = Checkpoints.stepOf(d);
            if (named != step) {
                throw new Align4jException(file + ": global_step " + step + " does not match the checkpoint's step "
                        + named + fix);
            }
            return new Checkpoints.Found(d, step, o);
        } catch (JsonProcessingException e) {
            throw new Align4jException(Texts.jsonError(file.toString(), e) + fix, e);
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot read it: " + Checkpoints.describe(e), e);
        }
    }

    /**
     * Reads trainer_state.json once as a stream, before it becomes a tree: a JSON object nested at
     * most {@link #MAX_DEPTH} deep whose global_step is a whole number in [0, maxStep] and whose
     * log_history is an array of at most 3 · global_step + 3 records of at most
     * {@link #MAX_FIELDS_PER_RECORD} fields each, so that a small edited file cannot turn into
     * gigabytes of objects.
     *
     * @return global_step
     */
    static long prescanState(Path file, long maxStep, String fix) throws IOException {
        long step = -1;
        long records = 0;
        try (JsonParser p = Checkpoints.json().getFactory().createParser(file.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new Align4jException(file + ": not a JSON object" + fix);
            }
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                t = p.nextToken();
                if (key.equals("global_step")) {
                    if (t != JsonToken.VALUE_NUMBER_INT
                            || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                            || p.getLongValue() < 0 || p.getLongValue() > maxStep) {
                        throw new Align4jException(file + ": global_step" + (t != null && t.isNumeric() && p.getTextLength() <= 40 ? " " + p.getText() : "") + " is not a whole number from 0 to "
                                + (maxStep == Long.MAX_VALUE ? "2^63-1" : maxStep + " (this run's steps; raise max_steps to "
                                + "continue further)") + fix);
                    }
                    step = p.getLongValue();
                } else if (key.equals("log_history")) {
                    if (t != JsonToken.START_ARRAY) {
                        throw new Align4jException(file + ": log_history is not an array" + fix);
                    }
                    while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                        if (t != JsonToken.START_OBJECT) {
                            throw new Align4jException(file + ": log_history record " + records + " is not an object" + fix);
                        }
                        records++;
                        int fields = 0;
                        while (p.nextToken() == JsonToken.FIELD_NAME) {
                            if (++fields > MAX_FIELDS_PER_RECORD) {
                                throw new Align4jException(file + ": log_history record " + (records - 1) + " has more than "
                                        + MAX_FIELDS_PER_RECORD + " fields" + fix);
                            }
                            p.nextToken();
                            skip(p, 3, file, fix);
                        }
                    }
                    continue;
                }
                skip(p, 1, file, fix);
            }
            if (t != JsonToken.END_OBJECT || p.nextToken() != null) {
                throw new Align4jException(file + ": not one JSON object" + fix);
            }
        }
        if (step < 0) {
            throw new Align4jException(file + ": no global_step" + fix);
        }
        if (records > RECORDS_PER_STEP * step + RECORDS_PER_STEP) {
            throw new Align4jException(file + ": log_history has " + records + " records, more than a run of " + step
                    + " steps writes (" + (RECORDS_PER_STEP * step + RECORDS_PER_STEP) + ")" + fix);
        }
        return step;
    }

    /** Skips the value the parser stands on, refusing nesting deeper than MAX_DEPTH (depth: where it stands). */
    private static void skip(JsonParser p, int depth, Path file, String fix) throws IOException {
        JsonToken t = p.currentToken();
        if (t != JsonToken.START_OBJECT && t != JsonToken.START_ARRAY) {
            return;
        }
        int open = 1;
        while (open > 0) {
            if (depth + open > MAX_DEPTH) {
                throw new Align4jException(file + ": nested deeper than " + MAX_DEPTH + " levels" + fix);
            }
            t = p.nextToken();
            if (t == null) {
                throw new Align4jException(file + ": ends inside a value" + fix);
            }
            if (t.isStructStart()) {
                open++;
            } else if (t.isStructEnd()) {
                open--;
            }
        }
    }

    /**
     * Copies the tensors {@code prefix + name} of a safetensors file (or model folder) into the
     * arrays {@code targets} in place, one at a time (CPU: straight from the memory-mapped file).
     *
     * @param what named in the message when a tensor is missing or has another shape
     */
    static void copyInto(Path fileOrDir, String prefix, Map<String, NDArray> targets, String what) {
        copyInto(fileOrDir, prefix, targets, what, false);
    }

    /**
     * {@link #copyInto(Path, String, Map, String)}, refusing values that are not finite (and, with
     * nonNegative, values below zero: AdamW's second moments are squares) before anything is copied
     * from that tensor: a restored checkpoint is checked like a downloaded one.
     *
     * @throws Align4jException naming the file, the tensor, the element and its value
     */
    static void copyInto(Path fileOrDir, String prefix, Map<String, NDArray> targets, String what, boolean nonNegative) {
        try (SafeTensors.Checkpoint c = SafeTensors.open(fileOrDir)) {
            for (Map.Entry<String, NDArray> e : targets.entrySet()) {
                NDArray target = e.getValue();
                SafeTensors.Tensor t = c.get(prefix + e.getKey());
                if (t == null || !new Shape(t.shape()).equals(target.getShape())) {
                    throw new Align4jException(fileOrDir + ": " + (t == null ? "no tensor '" + prefix + e.getKey() + "'"
                            : "tensor '" + t.name() + "' has shape " + new Shape(t.shape()) + ", not "
                                    + target.getShape()) + " (" + what + "); the checkpoint does not belong to this model");
                }
                ByteBuffer f32 = t.asFloat32();
                try {
                    t.requireFinite(f32);
                } catch (Align4jException bad) {
                    throw new Align4jException(bad.getMessage() + " (" + what + ")", bad);
                }
                long neg = nonNegative ? firstNegative(f32) : -1;
                if (neg >= 0) {
                    throw new Align4jException(t.file() + ": tensor '" + t.name() + "' holds "
                            + f32.duplicate().order(ByteOrder.LITTLE_ENDIAN).getFloat((int) (neg * 4)) + " at element " + neg
                            + " (of " + t.size() + "); " + what + " are squares and never negative, so the checkpoint was "
                            + "edited or damaged. Resume from another checkpoint (move this one out of the folder), or "
                            + "start a new run in a new folder.");
                }
                try (NDManager m = target.getManager().newSubManager()) {
                    NDArray src = m.create(f32, target.getShape(), DataType.FLOAT32);
                    if (src.getDataType() != target.getDataType()) {
                        src = src.toType(target.getDataType(), false);
                    }
                    target.set(new NDIndex("..."), src); // in place: the model keeps its arrays
                }
            }
        }
    }

    /** The index of the first F32 value (little-endian) below zero (−0 is not), or −1. */
    static long firstNegative(ByteBuffer f32) {
        IntBuffer in = f32.duplicate().clear().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer();
        int[] chunk = new int[Math.min(in.capacity(), 1 << 14)];
        for (int base = 0; base < in.capacity(); base += chunk.length) {
            int len = Math.min(chunk.length, in.capacity() - base);
            in.get(base, chunk, 0, len);
            for (int i = 0; i < len; i++) { // the sign bit set, and not −0
                if (chunk[i] < 0 && chunk[i] != Integer.MIN_VALUE) {
                    return (long) base + i;
                }
            }
        }
        return -1;
    }

    // ---- the resume state's numbers ----------------------------------------------------------------

    /**
     * Every number a resume takes from trainer_state.json ("align4j", {@link RunState}), checked against
     * this run before any of it is used: anyone can edit the file and rehash the manifest. Keys this version does not read are
     * allowed (a newer align4j may add some).
     *
     * @throws Align4jException naming the file and the key, with the range it must be in
     */
    static void ranges(Path file, JsonNode st, JsonNode a, long step, Position pos, TrainConfig cfg) {
        int micro = pos.microPerEpoch();
        int accumulation = cfg.optimization().gradientAccumulationSteps();
        long perEpoch = Position.stepsPerEpoch(micro, accumulation);
        whole(file, a, "version", 1, RunState.VERSION);
        whole(file, st, "optimizer_step", 0, step);
        long epoch = whole(file, a, "epoch", 0, step / perEpoch);
        long next = whole(file, a, "next_batch", 0, micro);
        long done = epoch * perEpoch + (next + accumulation - 1) / accumulation;
        if (done != step) {
            throw new Align4jException(file + ": epoch " + epoch + " and next_batch " + next + " are step " + done
                    + " of this run (" + micro + " micro-batches an epoch, gradient_accumulation_steps " + accumulation
                    + "), not global_step " + step + BAD_STATE);
        }
        whole(file, a, "micro_batches_done", epoch * micro + next, epoch * micro + next);
        whole(file, a, "nonfinite_in_a_row", 0, step);
        if (a.has("elapsed_s")) {
            JsonNode e = a.get("elapsed_s");
            if (!e.isNumber() || !(e.asDouble() >= 0) || !Double.isFinite(e.asDouble())) {
                throw new Align4jException(file + ": align4j.elapsed_s must be a finite number ≥ 0" + BAD_STATE);
            }
        }
        JsonNode w = a.path("window");
        if (!w.isMissingNode() && !w.isObject()) {
            throw new Align4jException(file + ": align4j.window must be an object" + BAD_STATE);
        }
        // the sums may hold NaN or infinity (written "NaN"): a non-finite step's scores are in its window's
        // metrics, and a run stopped by max_nonfinite_steps is resumed from such a checkpoint; they are only logged
        for (JsonNode v : w.path("sums")) {
            if (!metric(v)) {
                throw new Align4jException(file + ": align4j.window.sums must hold numbers" + BAD_STATE);
            }
        }
        for (JsonNode v : w.path("counts")) {
            if (!v.canConvertToExactIntegral() || !v.canConvertToLong() || v.asLong() < 0) {
                throw new Align4jException(file + ": align4j.window.counts must hold whole numbers ≥ 0" + BAD_STATE);
            }
        }
        for (JsonNode pair : w.path("extra")) {
            for (JsonNode v : pair) {
                if (!metric(v)) {
                    throw new Align4jException(file + ": align4j.window.extra must hold numbers" + BAD_STATE);
                }
            }
        }
    }

    /** A number, or NaN or an infinity as Jackson writes them ("NaN", "Infinity", "-Infinity"). */
    private static boolean metric(JsonNode v) {
        return v.isNumber() || v.isTextual() && List.of("NaN", "Infinity", "-Infinity").contains(v.asText());
    }

    private static final String BAD_STATE = ". The checkpoint was edited or damaged: resume from another checkpoint "
            + "(move this one out of the folder), or start a new run in a new folder.";

    /** A whole number in [lo, hi] under key, or (absent) lo; named in the message as align4j.key or key. */
    private static long whole(Path file, JsonNode parent, String key, long lo, long hi) {
        JsonNode v = parent.get(key);
        if (v == null) {
            return lo;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < lo || v.asLong() > hi) {
            String shown = v.isNumber() && v.asText().length() <= 40 ? v.asText() : "a value";
            throw new Align4jException(file + ": " + (parent.has("global_step") ? "" : "align4j.") + key + " is " + shown
                    + ", not a whole number " + (lo == hi ? "equal to " + lo : "from " + lo + " to " + hi)
                    + " (what this run and the checkpoint's global_step allow)" + BAD_STATE);
        }
        return v.asLong();
    }
}
