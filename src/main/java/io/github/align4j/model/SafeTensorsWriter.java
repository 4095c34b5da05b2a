package io.github.align4j.model;

import static io.github.align4j.model.SafeTensorsReader.INDEX;
import static io.github.align4j.model.SafeTensorsReader.JSON;
import static io.github.align4j.model.SafeTensorsReader.SINGLE;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.model.SafeTensors.DType;
import io.github.align4j.model.SafeTensors.Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/** Writes safetensors files for {@link SafeTensors#write}: temporary files first, then atomic moves. */
final class SafeTensorsWriter {
    private static final int CHUNK = 1 << 20;
    private static final Pattern SHARD = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");

    private SafeTensorsWriter() {}

    static void write(Path dir, List<Entry> entries, DType dtype, long maxShardBytes) {
        if (dtype == DType.I64) {
            throw new IllegalArgumentException("safetensors are written as F32, F16 or BF16, not " + dtype);
        }
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("maxShardBytes must be positive: " + maxShardBytes);
        }
        long[] bytes = new long[entries.size()];
        Set<String> names = new HashSet<>();
        long total = 0;
        for (int i = 0; i < bytes.length; i++) {
            Entry e = entries.get(i);
            if (e.name().equals("__metadata__") || !names.add(e.name())) {
                throw new IllegalArgumentException("tensor name '" + e.name() + "' is reserved or repeated");
            }
            bytes[i] = elements(e) * dtype.bytes;
            total += bytes[i];
        }
        List<List<Integer>> shards = plan(bytes, total, maxShardBytes);
        List<Path> temps = new ArrayList<>();
        try {
            Files.createDirectories(dir);
            if (shards.size() == 1) {
                Path tmp = temp(dir, SINGLE, temps);
                writeFile(tmp, entries, shards.get(0), bytes, dtype);
                move(tmp, dir.resolve(SINGLE));
                Files.deleteIfExists(dir.resolve(INDEX)); // the single file already wins over an index
                removeStaleShards(dir, Set.of());
                return;
            }
            ObjectNode index = JSON.createObjectNode();
            index.putObject("metadata").put("total_size", total);
            ObjectNode weightMap = index.putObject("weight_map");
            List<String> shardNames = new ArrayList<>();
            for (int k = 0; k < shards.size(); k++) {
                String name = String.format("model-%05d-of-%05d.safetensors", k + 1, shards.size());
                shardNames.add(name);
                writeFile(temp(dir, name, temps), entries, shards.get(k), bytes, dtype);
                shards.get(k).forEach(i -> weightMap.put(entries.get(i).name(), name));
            }
            Path indexTmp = temp(dir, INDEX, temps);
            Files.write(indexTmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(index));
            // Everything is written; now swap. A present model.safetensors wins over the index, so the old
            // checkpoint stays readable until it is deleted last. Without one, drop an old index before its
            // shards are overwritten, so that it is never read together with new shards.
            boolean singleExists = Files.exists(dir.resolve(SINGLE));
            if (!singleExists && shardNames.stream().anyMatch(n -> Files.exists(dir.resolve(n)))) {
                Files.deleteIfExists(dir.resolve(INDEX));
            }
            for (int k = 0; k < shardNames.size(); k++) {
                move(temps.get(k), dir.resolve(shardNames.get(k)));
            }
            move(indexTmp, dir.resolve(INDEX));
            Files.deleteIfExists(dir.resolve(SINGLE));
            removeStaleShards(dir, Set.copyOf(shardNames));
        } catch (IOException e) {
            throw new Align4jException(dir + ": cannot write the checkpoint: " + e
                    + ". Check free disk space and permissions.", e);
        } finally {
            for (Path t : temps) {
                try {
                    Files.deleteIfExists(t);
                } catch (IOException ignored) {
                    // best effort: a leftover temp file is harmless and visibly named
                }
            }
        }
    }

    /** One file, {@code file}, written to a temporary name beside it and moved into place. */
    static void writeSingle(Path file, List<Entry> entries, DType dtype) {
        if (dtype == DType.I64) {
            throw new IllegalArgumentException("safetensors are written as F32, F16 or BF16, not " + dtype);
        }
        long[] bytes = new long[entries.size()];
        Set<String> names = new HashSet<>();
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < bytes.length; i++) {
            Entry e = entries.get(i);
            if (e.name().equals("__metadata__") || !names.add(e.name())) {
                throw new IllegalArgumentException("tensor name '" + e.name() + "' is reserved or repeated");
            }
            bytes[i] = elements(e) * dtype.bytes;
            all.add(i);
        }
        List<Path> temps = new ArrayList<>();
        Path dir = file.toAbsolutePath().getParent();
        try {
            Files.createDirectories(dir);
            Path tmp = temp(dir, file.getFileName().toString(), temps);
            writeFile(tmp, entries, all, bytes, dtype);
            move(tmp, file);
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot write: " + e + ". Check free disk space and permissions.", e);
        } finally {
            for (Path t : temps) {
                try {
                    Files.deleteIfExists(t);
                } catch (IOException ignored) {
                    // best effort: a leftover temp file is harmless and visibly named
                }
            }
        }
    }

    private static long elements(Entry e) {
        long n = 1;
        for (long d : e.shape()) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + e.name() + "' has a negative dimension");
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** Consecutive groups of entries whose bytes stay within the limit; one group if all fit. */
    private static List<List<Integer>> plan(long[] bytes, long total, long max) {
        List<List<Integer>> shards = new ArrayList<>();
        List<Integer> cur = new ArrayList<>();
        long size = 0;
        for (int i = 0; i < bytes.length; i++) {
            if (total > max && !cur.isEmpty() && size + bytes[i] > max) {
                shards.add(cur);
                cur = new ArrayList<>();
                size = 0;
            }
            cur.add(i);
            size += bytes[i];
        }
        shards.add(cur);
        return shards;
    }

    /** A new, empty temporary file next to {@code finalName} (default permissions, unlike createTempFile). */
    private static Path temp(Path dir, String finalName, List<Path> temps) throws IOException {
        Path p = dir.resolve("." + finalName + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        Files.newByteChannel(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
        temps.add(p);
        return p;
    }

    private static void writeFile(Path file, List<Entry> entries, List<Integer> which, long[] bytes, DType dtype)
            throws IOException {
        ObjectNode header = JSON.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        for (int i : which) {
            ObjectNode t = header.putObject(entries.get(i).name());
            t.put("dtype", dtype.name());
            ArrayNode shape = t.putArray("shape");
            for (long d : entries.get(i).shape()) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(offset).add(offset + bytes[i]);
            offset += bytes[i];
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) & ~7;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            writeAll(ch, head.flip());
            ByteBuffer out = dtype != DType.F32 ? ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN) : null;
            for (int i : which) {
                Entry e = entries.get(i);
                ByteBuffer src = e.f32Data().get();
                long want = bytes[i] / dtype.bytes * 4;
                if (src == null || src.remaining() != want) {
                    throw new IllegalArgumentException("tensor '" + e.name() + "' of shape "
                            + Arrays.toString(e.shape()) + " needs " + want + " bytes of F32 data, got "
                            + (src == null ? "null" : src.remaining()));
                }
                src = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
                while (src.hasRemaining()) {
                    if (out == null) { // F32: write the caller's bytes in slices, no copy of ours
                        ByteBuffer part = src.slice();
                        part.limit(Math.min(CHUNK, part.remaining()));
                        src.position(src.position() + part.remaining());
                        writeAll(ch, part);
                    } else {
                        out.clear();
                        while (out.hasRemaining() && src.hasRemaining()) {
                            float f = src.getFloat();
                            out.putShort(dtype == DType.BF16 ? bf16(f) : f16(f));
                        }
                        writeAll(ch, out.flip());
                    }
                }
            }
            ch.force(true);
        }
    }

    /** F32 to BF16 bits, rounding to nearest even; NaN stays NaN (quiet), overflow gives infinity. */
    static short bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        return (short) ((bits + 0x7FFF + ((bits >> 16) & 1)) >>> 16);
    }

    /**
     * F32 to IEEE half bits, rounding to nearest even (as torch's {@code .half()}): values beyond
     * ±65504 become infinity, tiny ones subnormal or zero; NaN stays NaN.
     */
    static short f16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xff;
        int mant = bits & 0x7fffff;
        if (exp == 0xff) { // infinity or NaN
            return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
        }
        int e = exp - 127 + 15;
        if (e >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (e <= 0) { // subnormal half (or zero): shift the full mantissa, round to nearest even
            if (e < -10) {
                return (short) sign;
            }
            int m = mant | 0x800000;
            int shift = 14 - e;
            int half = m >>> shift;
            int rest = m & ((1 << shift) - 1);
            int mid = 1 << (shift - 1);
            if (rest > mid || (rest == mid && (half & 1) == 1)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (e << 10) | (mant >>> 13);
        int rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
            half++; // may carry into the exponent, up to infinity: correct rounding
        }
        return (short) (sign | half);
    }

    private static void writeAll(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Deletes {@code model-NNNNN-of-NNNNN.safetensors} files of an older layout. */
    private static void removeStaleShards(Path dir, Set<String> keep) throws IOException {
        List<Path> stale = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path p : files) {
                String name = p.getFileName().toString();
                if (SHARD.matcher(name).matches() && !keep.contains(name)) {
                    stale.add(p);
                }
            }
        }
        for (Path p : stale) {
            Files.deleteIfExists(p);
        }
    }
}
