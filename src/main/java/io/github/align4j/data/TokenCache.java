package io.github.align4j.data;

import io.github.align4j.Align4jException;
import io.github.align4j.model.TextTokenizer;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32;

/**
 * The on-disk cache of tokenized datasets, keyed by {@link #fingerprint}.
 *
 * <p>File format (all integers big-endian or unsigned LEB128 varints): the 8 magic bytes
 * {@code A4JTOK01}, the payload, then the payload's length (8 bytes) and CRC-32 (4 bytes). The
 * payload holds the fingerprint, layout, statistics and every example (texts as UTF-8, ids as
 * varints). A file whose size, checksum, fingerprint or structure does not match is ignored and
 * rewritten. Files are written to a temporary name and moved into place.
 */
final class TokenCache {
    /** Bump when anything that changes the tokenized output changes in the code. */
    static final String VERSION = "align4j-data-1";

    private static final byte[] MAGIC = "A4JTOK01".getBytes(StandardCharsets.US_ASCII);

    private TokenCache() {}

    /** What a cached dataset holds. */
    record Content(String layout, boolean paired, boolean chat, DataStats stats, List<Example> examples) {}

    // ---------------------------------------------------------------- key

    /**
     * SHA-256 over everything that changes the output: this code's version, the options that
     * matter, the EOS id, the template text, the tokenizer files' bytes and every data file's
     * bytes (streamed; size and mtime are not trusted).
     */
    static String fingerprint(List<Path> files, TextTokenizer tokenizer, String template, DataOptions o,
            String format, int eos) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        field(md, VERSION);
        field(md, format == null ? "auto" : format);
        field(md, new TreeMap<>(o.columns()).toString());
        field(md, o.maxLength() <= 0 ? "inf" : Integer.toString(o.maxLength()));
        field(md, o.maxPromptLength() <= 0 ? "inf" : Integer.toString(o.maxPromptLength()));
        field(md, Boolean.toString(o.applyChatTemplate()));
        field(md, Boolean.toString(o.skipBadRows()));
        field(md, Long.toString(o.maxLineBytes()));
        field(md, Integer.toString(eos));
        field(md, template == null ? "\u0000none" : template);
        for (String name : new String[] {"tokenizer.json", "tokenizer_config.json"}) {
            Path p = tokenizer.dir() == null ? null : tokenizer.dir().resolve(name);
            if (p != null && Files.isRegularFile(p)) {
                fileBytes(md, p);
            } else {
                field(md, "\u0000none");
            }
        }
        field(md, Integer.toString(files.size()));
        for (Path f : files) {
            fileBytes(md, f);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static void field(MessageDigest md, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        md.update(longBytes(b.length));
        md.update(b);
    }

    private static void fileBytes(MessageDigest md, Path p) {
        try (InputStream in = Files.newInputStream(p)) {
            md.update(longBytes(Files.size(p)));
            byte[] buf = new byte[1 << 20];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
        } catch (IOException e) {
            throw new Align4jException(p + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static byte[] longBytes(long v) {
        byte[] b = new byte[8];
        for (int i = 7; i >= 0; i--) {
            b[i] = (byte) v;
            v >>>= 8;
        }
        return b;
    }

    static Path file(Path dir, String fingerprint) {
        return dir.resolve(fingerprint + ".a4jt");
    }

    // ---------------------------------------------------------------- read

    /** The cached content, or null when absent, corrupt or for another key. */
    static Content read(Path file, String fingerprint) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            long size = Files.size(file);
            if (size < MAGIC.length + 12) {
                return null;
            }
            long payload = size - MAGIC.length - 12;
            CRC32 crc = new CRC32();
            byte[] tail = new byte[12];
            try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
                byte[] magic = in.readNBytes(MAGIC.length);
                if (!java.util.Arrays.equals(magic, MAGIC)) {
                    return null;
                }
                byte[] buf = new byte[1 << 16];
                long left = payload;
                while (left > 0) {
                    int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                    if (n < 0) {
                        return null;
                    }
                    crc.update(buf, 0, n);
                    left -= n;
                }
                if (in.readNBytes(tail, 0, 12) != 12) {
                    return null;
                }
            }
            DataInputStream t = new DataInputStream(new java.io.ByteArrayInputStream(tail));
            if (t.readLong() != payload || (t.readInt() & 0xffffffffL) != crc.getValue()) {
                return null;
            }
            try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
                in.skipNBytes(MAGIC.length);
                Reader r = new Reader(in, payload);
                if (!fingerprint.equals(r.str())) {
                    return null;
                }
                return r.content();
            }
        } catch (IOException | RuntimeException e) {
            return null; // corrupt or unreadable: ignored, rebuilt and rewritten
        }
    }

    private static final class Reader {
        private final DataInputStream in;
        private final long limit;

        Reader(DataInputStream in, long limit) {
            this.in = in;
            this.limit = limit;
        }

        Content content() throws IOException {
            String layout = str();
            boolean paired = in.readBoolean();
            boolean chat = in.readBoolean();
            long rowsRead = in.readLong();
            long kept = in.readLong();
            long bad = in.readLong();
            long truncated = in.readLong();
            int nd = len();
            Map<String, Long> dropped = new LinkedHashMap<>();
            for (int i = 0; i < nd; i++) {
                dropped.put(str(), in.readLong());
            }
            int nm = len();
            List<String> msgs = new ArrayList<>();
            for (int i = 0; i < nm; i++) {
                msgs.add(str());
            }
            DataStats stats = new DataStats(rowsRead, kept, dropped, bad, truncated, msgs);
            int n = len();
            List<Example> ex = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                long row = in.readLong();
                String prompt = str();
                String chosen = str();
                String rejected = str();
                byte label = in.readByte();
                int pc = varint();
                int cc = varint();
                int rc = varint();
                int nmeta = len();
                Map<String, String> meta = new TreeMap<>();
                for (int k = 0; k < nmeta; k++) {
                    meta.put(str(), str());
                }
                int[] p = ids();
                int[] c = ids();
                int[] r = ids();
                RenderedExample t = new RenderedExample(row, prompt, chosen, rejected,
                        label < 0 ? null : label == 1, pc, cc, rc, Map.copyOf(meta));
                ex.add(new Example(t, p, c, r));
            }
            if (in.readInt() != 0x454e4421) { // "END!"
                throw new IOException("no end marker");
            }
            return new Content(layout, paired, chat, stats, ex);
        }

        int varint() throws IOException {
            int v = 0;
            for (int shift = 0; shift < 35; shift += 7) {
                int b = in.readUnsignedByte();
                v |= (b & 0x7f) << shift;
                if ((b & 0x80) == 0) {
                    return v;
                }
            }
            throw new IOException("bad varint");
        }

        int len() throws IOException {
            int n = varint();
            if (n < 0 || n > limit) {
                throw new IOException("bad length");
            }
            return n;
        }

        String str() throws IOException {
            int n = len();
            if (n == 0) {
                return null;
            }
            byte[] b = in.readNBytes(n - 1);
            if (b.length != n - 1) {
                throw new EOFException();
            }
            return new String(b, StandardCharsets.UTF_8);
        }

        int[] ids() throws IOException {
            int n = len();
            if (n == 0) {
                return null;
            }
            int[] a = new int[n - 1];
            for (int i = 0; i < a.length; i++) {
                a[i] = varint();
            }
            return a;
        }
    }

    // ---------------------------------------------------------------- write

    /** Writes the content under a temporary name and moves it into place; failures are ignored. */
    static boolean write(Path file, String fingerprint, Content c) {
        Path tmp = null;
        try {
            Files.createDirectories(file.getParent());
            tmp = Files.createTempFile(file.getParent(), fingerprint.substring(0, 16), ".tmp");
            CRC32 crc = new CRC32();
            long[] count = {0};
            try (OutputStream raw = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
                raw.write(MAGIC);
                OutputStream counted = new OutputStream() {
                    @Override
                    public void write(int b) throws IOException {
                        raw.write(b);
                        crc.update(b);
                        count[0]++;
                    }

                    @Override
                    public void write(byte[] b, int off, int len) throws IOException {
                        raw.write(b, off, len);
                        crc.update(b, off, len);
                        count[0] += len;
                    }
                };
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(counted, 1 << 16));
                Writer w = new Writer(out);
                w.str(fingerprint);
                w.content(c);
                out.flush();
                DataOutputStream tail = new DataOutputStream(raw);
                tail.writeLong(count[0]);
                tail.writeInt((int) crc.getValue());
                tail.flush();
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            return true;
        } catch (IOException | RuntimeException e) {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // nothing more to do
                }
            }
            return false;
        }
    }

    private static final class Writer {
        private final DataOutputStream out;

        Writer(DataOutputStream out) {
            this.out = out;
        }

        void content(Content c) throws IOException {
            str(c.layout());
            out.writeBoolean(c.paired());
            out.writeBoolean(c.chat());
            DataStats s = c.stats();
            out.writeLong(s.rowsRead());
            out.writeLong(s.kept());
            out.writeLong(s.badRows());
            out.writeLong(s.truncated());
            varint(s.dropped().size());
            for (var e : new TreeMap<>(s.dropped()).entrySet()) {
                str(e.getKey());
                out.writeLong(e.getValue());
            }
            varint(s.badRowMessages().size());
            for (String m : s.badRowMessages()) {
                str(m);
            }
            varint(c.examples().size());
            for (Example e : c.examples()) {
                RenderedExample t = e.text();
                out.writeLong(t.row());
                str(t.prompt());
                str(t.chosen());
                str(t.rejected());
                out.writeByte(t.desirable() == null ? -1 : t.desirable() ? 1 : 0);
                varint(t.promptCut());
                varint(t.chosenCut());
                varint(t.rejectedCut());
                varint(t.metadata().size());
                for (var m : new TreeMap<>(t.metadata()).entrySet()) {
                    str(m.getKey());
                    str(m.getValue());
                }
                ids(e.prompt());
                ids(e.chosen());
                ids(e.rejected());
            }
            out.writeInt(0x454e4421);
        }

        void varint(int v) throws IOException {
            while ((v & ~0x7f) != 0) {
                out.writeByte((v & 0x7f) | 0x80);
                v >>>= 7;
            }
            out.writeByte(v);
        }

        void str(String s) throws IOException {
            if (s == null) {
                varint(0);
                return;
            }
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            varint(b.length + 1);
            out.write(b);
        }

        void ids(int[] a) throws IOException {
            if (a == null) {
                varint(0);
                return;
            }
            varint(a.length + 1);
            for (int v : a) {
                varint(v);
            }
        }
    }
}
