package io.github.align4j.train;

import io.github.align4j.Align4jException;
import io.github.align4j.internal.FolderFiles;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Reference log-probs kept on disk so that a run on the same data (the next β of a sweep, a rerun)
 * never loads the reference model. Entries are keyed by the content of what is scored (prompt
 * and completion token ids), so the key covers the data file, the chat template and every
 * tokenization setting at once; files are keyed by the reference weights' fingerprint and the set
 * of sequences a run needs.
 */
final class ReferenceCache {
    private static final int MAGIC = 0x41344A52; // "A4JR"

    private ReferenceCache() {}

    /** A 128-bit content key of one (prompt, completion) sequence. */
    record Key(long hi, long lo) {}

    static Key key(int[] prompt, int[] completion) {
        long h1 = 0x9E3779B97F4A7C15L;
        long h2 = 0xC2B2AE3D27D4EB4FL ^ prompt.length;
        for (int t : prompt) {
            h1 = mix(h1 ^ t);
            h2 = mix(h2 + t * 0x94D049BB133111EBL);
        }
        h1 = mix(h1 ^ 0x5555_5555L ^ completion.length);
        for (int t : completion) {
            h1 = mix(h1 ^ t);
            h2 = mix(h2 + t * 0x94D049BB133111EBL + 1);
        }
        return new Key(h1, mix(h2 ^ prompt.length * 31L));
    }

    private static long mix(long z) { // splitmix64 finaliser
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A fingerprint of the sequences a run needs, order-independent. */
    static String requestsFingerprint(Iterable<Key> keys) {
        long a = 0;
        long b = 0;
        long n = 0;
        for (Key k : keys) {
            a += mix(k.hi());
            b ^= mix(k.lo() + 0x632BE59BD9B4E019L);
            n++;
        }
        return Long.toHexString(mix(a ^ n)) + Long.toHexString(mix(b + n));
    }

    /**
     * A fingerprint of a Hugging Face model folder: config.json, and for every safetensors file its
     * size, header and 4 KiB samples every 16 MiB (hashing whole 7B checkpoints would take longer
     * than scoring a small dataset).
     */
    static String weightsFingerprint(Path dir) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(Files.readAllBytes(FolderFiles.inside(dir, dir.resolve("config.json"), "model folder")));
            List<Path> files;
            try (var s = Files.list(dir)) {
                files = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
            }
            for (Path f : files) {
                md.update(f.getFileName().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                try (FileChannel ch = FileChannel.open(FolderFiles.inside(dir, f, "model folder"), StandardOpenOption.READ)) {
                    long size = ch.size();
                    md.update(ByteBuffer.allocate(8).putLong(0, size));
                    ByteBuffer buf = ByteBuffer.allocate(4096);
                    for (long pos = 0; pos < size; pos += 16L << 20) {
                        buf.clear();
                        ch.read(buf, pos);
                        buf.flip();
                        md.update(buf);
                    }
                    buf.clear();
                    ch.read(buf, Math.max(0, size - 4096));
                    buf.flip();
                    md.update(buf);
                }
            }
            return HexFormat.of().formatHex(md.digest(), 0, 12);
        } catch (IOException e) {
            throw new Align4jException(dir + ": cannot read the reference weights: " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Bytes before the entries (magic, count) and of each entry (two longs, a float). */
    private static final int HEADER = 8;
    private static final int ENTRY = 20;

    /**
     * Reads a cache file, or returns null when it is missing or damaged (it is then rebuilt): a
     * count other than {@code expected} (the sequences this run needs; the file's name covers
     * them) or than the file's size holds, or a value that is NaN or infinite (every step would
     * be skipped). Nothing is allocated by the file's count before it is checked.
     */
    static Map<Key, Float> read(Path file, int expected) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try (InputStream in = Files.newInputStream(file);
                DataInputStream d = new DataInputStream(new BufferedInputStream(in))) {
            if (d.readInt() != MAGIC) {
                return null;
            }
            int n = d.readInt();
            if (n != expected || n < 0 || Files.size(file) != HEADER + (long) ENTRY * n) {
                return null;
            }
            Map<Key, Float> m = new HashMap<>((int) Math.min(1L << 30, n * 4L / 3 + 1));
            for (int i = 0; i < n; i++) {
                Key k = new Key(d.readLong(), d.readLong());
                float v = d.readFloat();
                if (!Float.isFinite(v)) {
                    return null;
                }
                m.put(k, v);
            }
            return m;
        } catch (IOException e) {
            return null;
        }
    }

    /** Writes a cache file to a temporary name and moves it into place. */
    static void write(Path file, Map<Key, Float> entries) {
        try {
            Files.createDirectories(file.getParent());
            Path tmp = Files.createTempFile(file.getParent(), ".refcache", ".tmp");
            try {
                try (DataOutputStream d = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(tmp)))) {
                    d.writeInt(MAGIC);
                    d.writeInt(entries.size());
                    for (Map.Entry<Key, Float> e : entries.entrySet()) {
                        d.writeLong(e.getKey().hi());
                        d.writeLong(e.getKey().lo());
                        d.writeFloat(e.getValue());
                    }
                }
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot write the reference cache: " + e.getMessage(), e);
        }
    }
}
