package io.github.align4j.model;

import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Reads and writes Hugging Face safetensors checkpoints in plain Java, without DJL.
 *
 * <p>A file is an 8-byte little-endian header length {@code N}, {@code N} bytes of UTF-8 JSON
 * ({@code {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}}) and the
 * data, with offsets relative to byte {@code 8 + N}.
 *
 * <p>Reading never copies tensor bytes onto the heap: {@link #open} parses and validates only the
 * headers, and each tensor is memory-mapped on its own on first {@link Checkpoint#get} (the model
 * loader maps only what a frozen float32 model aliases, and reads every other tensor into a reusable
 * buffer, so that a converted checkpoint's pages do not stay resident). Offsets
 * are {@code long} throughout, so files and shards over 2 GiB work; only a single tensor must be
 * under 2 GiB (the largest Java buffer). Writing streams each tensor through a 1 MiB buffer.
 *
 * <p>Damaged or unsupported files fail with one {@link Align4jException} naming the file and,
 * where there is one, the tensor.
 */
public final class SafeTensors {
    private SafeTensors() {}

    /** The element types align4j reads. It writes F32, F16 and BF16. */
    public enum DType {
        F32(4), F16(2), BF16(2), I64(8);

        /** Bytes per element. */
        public final int bytes;

        DType(int bytes) {
            this.bytes = bytes;
        }
    }

    /**
     * One tensor: a little-endian read-only view of its bytes in the (memory-mapped) file.
     *
     * @param name the tensor's name in the checkpoint
     * @param dtype its element type
     * @param shape its dimensions ({@code []} for a scalar)
     * @param file the file that holds it
     * @param data its bytes, position 0 to capacity
     */
    public record Tensor(String name, DType dtype, long[] shape, Path file, ByteBuffer data) {
        /** The element count: the product of the shape. */
        public long size() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        /**
         * F32 values as a little-endian ByteBuffer: for F32 the mapped view itself (no copy); F16
         * and BF16 widened to F32 in Java into a new direct buffer.
         *
         * @throws Align4jException for an I64 tensor, or when the widened values would not fit
         *     in one buffer (2 GiB)
         */
        public ByteBuffer asFloat32() {
            ByteBuffer in = data.duplicate().clear().order(ByteOrder.LITTLE_ENDIAN);
            if (dtype == DType.F32) {
                return in;
            }
            if (dtype == DType.I64) {
                throw new Align4jException(file + ": tensor '" + name + "' holds I64 integers where "
                        + "floating-point weights are expected; the checkpoint does not fit this model.");
            }
            long n = size();
            if (n > Integer.MAX_VALUE / 4) {
                throw new Align4jException(file + ": tensor '" + name + "' has " + n + " elements; "
                        + "widened to F32 it exceeds 2 GiB, the largest Java buffer. Save the checkpoint "
                        + "with that tensor split.");
            }
            ByteBuffer out = ByteBuffer.allocateDirect((int) n * 4).order(ByteOrder.LITTLE_ENDIAN);
            ShortBuffer src = in.asShortBuffer();
            IntBuffer dst = out.asIntBuffer();
            boolean bf16 = dtype == DType.BF16;
            for (int i = 0; i < n; i++) {
                short h = src.get(i);
                dst.put(i, bf16 ? (h & 0xffff) << 16 : halfToFloatBits(h));
            }
            return out;
        }

        /**
         * Checks F32 values (as {@link #asFloat32} returns them) for NaN and infinity in one pass
         * over the bytes, eight at a time.
         *
         * @throws Align4jException naming the file, the tensor, the first bad element and its value
         */
        public void requireFinite(ByteBuffer f32) {
            long at = firstNonFinite(f32);
            if (at >= 0) {
                float v = f32.duplicate().order(ByteOrder.LITTLE_ENDIAN).getFloat((int) (at * 4));
                throw new Align4jException(file + ": tensor '" + name + "' holds " + v + " at element " + at
                        + " (of " + size() + "); the weights are damaged (a diverged or corrupted checkpoint). "
                        + "align4j refuses weights that are not finite numbers: use an earlier checkpoint or "
                        + "download the model again.");
            }
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape) + " in " + file;
        }
    }

    private static final long EXP2 = 0x7f800000_7f800000L;
    private static final long LOW1 = 0x00000001_00000001L;
    private static final long HIGH1 = 0x80000000_80000000L;

    /** The index of the first NaN or infinite F32 value (little-endian), or -1 when all are finite. */
    static long firstNonFinite(ByteBuffer f32) {
        ByteBuffer in = f32.duplicate().clear().order(ByteOrder.LITTLE_ENDIAN);
        int n = in.capacity() / 4;
        java.nio.LongBuffer pairs = in.asLongBuffer();
        long[] chunk = new long[Math.min(pairs.capacity(), 1 << 14)];
        for (int base = 0; base < pairs.capacity(); base += chunk.length) {
            int len = Math.min(chunk.length, pairs.capacity() - base);
            pairs.get(base, chunk, 0, len); // a bulk copy, then a loop the JIT unrolls
            long any = 0;
            for (int i = 0; i < len; i++) {
                long e = chunk[i] & EXP2;
                any |= (e ^ EXP2) - LOW1 & ~(e ^ EXP2) & HIGH1; // a lane whose exponent is all ones
            }
            if (any != 0) {
                for (int i = 0; i < len; i++) {
                    long e = chunk[i] & EXP2; // an all-ones exponent is NaN or infinity
                    if ((int) e == 0x7f800000) {
                        return 2L * (base + i);
                    }
                    if ((int) (e >>> 32) == 0x7f800000) {
                        return 2L * (base + i) + 1;
                    }
                }
            }
        }
        if (n % 2 == 1 && (in.getInt((n - 1) * 4) & 0x7f800000) == 0x7f800000) {
            return n - 1;
        }
        return -1;
    }

    /** IEEE half-precision bits to single-precision bits (exact: every half is a float). */
    static int halfToFloatBits(short half) {
        int h = half & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) { // infinity or NaN
            return sign | 0x7f800000 | (mant << 13);
        }
        if (exp == 0) { // zero or subnormal: mant * 2^-24
            return sign | Float.floatToRawIntBits(mant * 0x1p-24f);
        }
        return sign | ((exp + 112) << 23) | (mant << 13);
    }

    /** An opened checkpoint (one file or shards). Mappings live until close (or GC). */
    public static final class Checkpoint implements AutoCloseable {
        private final Path source;
        private final List<Path> files;
        private final List<FileChannel> channels;
        private final Map<String, SafeTensorsReader.Slot> slots;
        private final Map<String, String> metadata;
        private final Map<String, ByteBuffer> mapped = new HashMap<>();
        private boolean closed;

        Checkpoint(Path source, List<Path> files, List<FileChannel> channels,
                Map<String, SafeTensorsReader.Slot> slots, Map<String, String> metadata) {
            this.source = source;
            this.files = List.copyOf(files);
            this.channels = channels;
            this.slots = slots;
            this.metadata = Collections.unmodifiableMap(metadata);
        }

        /** Tensor names in file order (shards in name order). */
        public Set<String> names() {
            return Collections.unmodifiableSet(slots.keySet());
        }

        /** The shape a tensor's header gives (no data is read), or null when absent. */
        public long[] shapeOf(String name) {
            SafeTensorsReader.Slot s = slots.get(name);
            return s == null ? null : s.shape().clone();
        }

        /** Whether the checkpoint holds this tensor. */
        public boolean contains(String name) {
            return slots.containsKey(name);
        }

        /**
         * The tensor, mapped on first use; null if absent.
         *
         * @throws Align4jException if the tensor is 2 GiB or larger, or cannot be mapped
         */
        public synchronized Tensor get(String name) {
            if (closed) {
                throw new IllegalStateException("checkpoint " + source + " is closed");
            }
            SafeTensorsReader.Slot s = slots.get(name);
            if (s == null) {
                return null;
            }
            Path file = files.get(s.file());
            ByteBuffer buf = mapped.get(name);
            if (buf == null) {
                if (s.length() > Integer.MAX_VALUE) {
                    throw new Align4jException(file + ": tensor '" + name + "' is " + s.length()
                            + " bytes; align4j maps each tensor as one buffer, which must be under 2 GiB. "
                            + "Save the checkpoint with that tensor split.");
                }
                try {
                    buf = channels.get(s.file()).map(FileChannel.MapMode.READ_ONLY, s.offset(), s.length());
                } catch (IOException e) {
                    throw new Align4jException(file + ": cannot map tensor '" + name + "': " + e.getMessage()
                            + ". Check that the file is readable and was not truncated after opening.", e);
                }
                mapped.put(name, buf);
            }
            return new Tensor(name, s.dtype(), s.shape().clone(), file,
                    buf.duplicate().order(ByteOrder.LITTLE_ENDIAN));
        }

        /** Where a tensor lies (dtype, shape, file, offset), or null when absent; nothing is read or mapped. */
        SafeTensorsReader.Slot slot(String name) {
            return slots.get(name);
        }

        /** The file that holds a slot. */
        Path file(SafeTensorsReader.Slot s) {
            return files.get(s.file());
        }

        /**
         * Reads a tensor's bytes into {@code into} from position 0 with positional reads (nothing is
         * memory-mapped, so the file's pages do not stay in this process's resident memory) and
         * returns a little-endian view of exactly those bytes.
         *
         * @throws Align4jException when the file cannot be read or ends early
         */
        ByteBuffer read(SafeTensorsReader.Slot s, ByteBuffer into) {
            if (closed) {
                throw new IllegalStateException("checkpoint " + source + " is closed");
            }
            ByteBuffer b = into.duplicate().clear().limit(Math.toIntExact(s.length()));
            FileChannel ch = channels.get(s.file());
            try {
                while (b.hasRemaining()) {
                    if (ch.read(b, s.offset() + b.position()) < 0) {
                        throw new IOException("unexpected end of file");
                    }
                }
            } catch (IOException e) {
                throw new Align4jException(files.get(s.file()) + ": cannot read tensor '" + s.name() + "': "
                        + e.getMessage() + ". Check that the file is readable and was not truncated after opening.", e);
            }
            return b.flip().order(ByteOrder.LITTLE_ENDIAN);
        }

        /**
         * The tensor, or {@code Align4jException "<dir>: tensor '<name>' is missing (needed by
         * config.json: <why>)"}.
         */
        public Tensor require(String name, String why) {
            Tensor t = get(name);
            if (t == null) {
                throw new Align4jException(source + ": tensor '" + name + "' is missing (needed by config.json: "
                        + why + "). Check that the weights and config.json come from the same model.");
            }
            return t;
        }

        /** The {@code __metadata__} of the (first) file; empty if it has none. */
        public Map<String, String> metadata() {
            return metadata;
        }

        /** The float dtype holding the most elements (F32 when there are no float tensors). */
        public DType dominantDType() {
            Map<DType, Long> count = new EnumMap<>(DType.class);
            for (SafeTensorsReader.Slot s : slots.values()) {
                if (s.dtype() != DType.I64) {
                    count.merge(s.dtype(), s.length() / s.dtype().bytes, Long::sum);
                }
            }
            DType best = DType.F32;
            for (Map.Entry<DType, Long> e : count.entrySet()) {
                if (e.getValue() > count.getOrDefault(best, -1L)) {
                    best = e.getKey();
                }
            }
            return best;
        }

        /** The files read, in order. */
        public List<Path> files() {
            return files;
        }

        /** Closes the files; tensors already handed out stay readable until garbage-collected. */
        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                mapped.clear();
                SafeTensorsReader.closeQuietly(channels);
            }
        }
    }

    /**
     * Opens {@code dir/model.safetensors}, or the shards listed in
     * {@code dir/model.safetensors.index.json}, or a single {@code .safetensors} file (or an
     * {@code .index.json} file) path. Reads and validates the headers only.
     *
     * @throws Align4jException naming the file (and tensor) when something is missing or malformed
     */
    public static Checkpoint open(Path dirOrFile) {
        return SafeTensorsReader.open(dirOrFile);
    }

    /**
     * One tensor to write.
     *
     * @param name its name
     * @param shape its dimensions
     * @param f32Data supplies its F32 values as little-endian bytes from position to limit (the
     *     buffer's byte-order flag is ignored); called once, lazily, so a model can stream tensors
     */
    public record Entry(String name, long[] shape, Supplier<ByteBuffer> f32Data) {}

    /**
     * Writes entries into {@code dir} as F32, F16 or BF16 (round to nearest even from F32), as
     * {@code model.safetensors}, or when the total data would exceed {@code maxShardBytes}, as
     * {@code model-00001-of-0000K.safetensors} shards + {@code model.safetensors.index.json}
     * ({@code {"metadata": {"total_size": n}, "weight_map": {name: shardfile}}}); a tensor larger
     * than {@code maxShardBytes} gets a shard of its own.
     *
     * <p>All files are first written to temporary files in {@code dir} and then moved into place
     * atomically, so an error while writing (a supplier that throws, a full disk) leaves the old
     * checkpoint untouched. Files of an older layout (an index, other shards, a single file) are
     * removed once the new one is in place. Headers are padded with spaces to a multiple of 8 bytes
     * and carry {@code "__metadata__": {"format": "pt"}}; tensors are contiguous, in the given order.
     *
     * @throws Align4jException when the files cannot be written
     * @throws IllegalArgumentException for a dtype other than F32/F16/BF16, duplicate names, or data
     *     whose length does not match its shape
     */
    public static void write(Path dir, List<Entry> entries, DType dtype, long maxShardBytes) {
        SafeTensorsWriter.write(dir, entries, dtype, maxShardBytes);
    }

    /**
     * Writes entries into one file (e.g. PEFT's {@code adapter_model.safetensors}): a temporary file
     * beside it first, then an atomic move.
     */
    public static void writeFile(Path file, List<Entry> entries, DType dtype) {
        SafeTensorsWriter.writeSingle(file, entries, dtype);
    }
}
