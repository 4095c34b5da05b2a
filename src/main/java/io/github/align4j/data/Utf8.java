package io.github.align4j.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;

/** Strict UTF-8: decoding that reports the first bad byte, and a guard for streamed JSON. */
final class Utf8 {
    private Utf8() {}

    /** Thrown by {@link #decode} with the offset of the first byte that is not UTF-8. */
    static final class Invalid extends Exception {
        private static final long serialVersionUID = 1L;
        final int offset;

        Invalid(int offset) {
            super("invalid UTF-8 at byte " + offset, null, false, false);
            this.offset = offset;
        }
    }

    /** Thrown by {@link Guard#read} past the limit a reader set. */
    static final class TooLong extends IOException {
        private static final long serialVersionUID = 1L;

        TooLong() {
            super("row longer than the limit", null);
        }
    }

    /** Decodes with {@link CodingErrorAction#REPORT}: no replacement characters, ever. */
    static String decode(byte[] bytes, int off, int len) throws Invalid {
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, off, len);
        CharBuffer out = CharBuffer.allocate(len);
        CoderResult r = dec.decode(in, out, true);
        if (r.isError()) {
            throw new Invalid(in.position() - off);
        }
        r = dec.flush(out);
        if (r.isError()) {
            throw new Invalid(in.position() - off);
        }
        out.flip();
        return out.toString();
    }

    /**
     * Passes UTF-8 through and replaces the first byte of every ill-formed sequence (as Java's
     * strict decoder would reject it) by {@code '?'}, remembering its stream offset. Incomplete
     * sequences at the end of a read are held back until the next bytes arrive, so every reported
     * offset is exact; a reader that knows which byte range a row came from can then tell whether
     * that row held invalid UTF-8.
     */
    static final class Guard extends InputStream {
        private final InputStream in;
        private final byte[] buf = new byte[1 << 16];
        private int start;
        private int valid;
        private int end;
        private long offset; // stream offset of buf[0]
        private boolean eof;
        private final ArrayDeque<Long> bad = new ArrayDeque<>();
        private long limit = Long.MAX_VALUE;
        private static final int MAX_REMEMBERED = 1 << 18;
        private static final long KEEP_WINDOW = 1 << 17;

        Guard(InputStream in) {
            this.in = in;
        }

        /** Removes and returns the first invalid offset below {@code limit}, or -1. */
        long pollBadBefore(long limit) {
            long first = -1;
            while (!bad.isEmpty() && bad.peekFirst() < limit) {
                long o = bad.pollFirst();
                if (first < 0) {
                    first = o;
                }
            }
            return first;
        }

        /** The first invalid offset seen so far and not yet polled, or -1. */
        long firstBad() {
            return bad.isEmpty() ? -1 : bad.peekFirst();
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (position() >= limit) {
                throw new TooLong();
            }
            while (start == valid) {
                if (eof) {
                    return -1;
                }
                fill();
            }
            int n = (int) Math.min(Math.min(len, valid - start), limit - position());
            System.arraycopy(buf, start, b, off, n);
            start += n;
            return n;
        }

        private void fill() throws IOException {
            if (start > 0) {
                System.arraycopy(buf, start, buf, 0, end - start);
                offset += start;
                valid -= start;
                end -= start;
                start = 0;
            }
            int n = in.read(buf, end, buf.length - end);
            if (n < 0) {
                eof = true;
            } else {
                end += n;
            }
            validate();
        }

        private void validate() {
            int i = valid;
            while (i < end) {
                int b0 = buf[i] & 0xff;
                if (b0 < 0x80) {
                    i++;
                    continue;
                }
                int need;
                int lo = 0x80;
                int hi = 0xbf;
                if (b0 >= 0xc2 && b0 <= 0xdf) {
                    need = 1;
                } else if (b0 >= 0xe0 && b0 <= 0xef) {
                    need = 2;
                    if (b0 == 0xe0) {
                        lo = 0xa0;
                    } else if (b0 == 0xed) {
                        hi = 0x9f;
                    }
                } else if (b0 >= 0xf0 && b0 <= 0xf4) {
                    need = 3;
                    if (b0 == 0xf0) {
                        lo = 0x90;
                    } else if (b0 == 0xf4) {
                        hi = 0x8f;
                    }
                } else {
                    replace(i);
                    i++;
                    continue;
                }
                boolean ok = true;
                int have = Math.min(need, end - i - 1);
                for (int k = 1; k <= have; k++) {
                    int c = buf[i + k] & 0xff;
                    int l = k == 1 ? lo : 0x80;
                    int h = k == 1 ? hi : 0xbf;
                    if (c < l || c > h) {
                        ok = false;
                        break;
                    }
                }
                if (!ok) {
                    replace(i);
                    i++;
                } else if (have < need) {
                    if (!eof) {
                        break; // wait for the rest of the sequence
                    }
                    replace(i);
                    i++;
                } else {
                    i += need + 1;
                }
            }
            valid = i;
        }

        private void replace(int i) {
            buf[i] = '?';
            bad.addLast(offset + i);
            if (bad.size() > MAX_REMEMBERED) {
                forgetInner(offset + i);
            }
        }

        /**
         * Bounds the memory one huge row full of bad bytes can take. Only the first bad offset of
         * each row is ever reported, and the reader polls after each row; the row being parsed ends
         * at most the read-ahead (this buffer plus the parser's, well under {@link #KEEP_WINDOW})
         * before the newest byte. So keep the first offset and those in the last window: the ones
         * between belong to the current row and are never asked for.
         */
        private void forgetInner(long newest) {
            long first = bad.pollFirst();
            bad.removeIf(o -> o < newest - KEEP_WINDOW);
            bad.addFirst(first);
        }

        /**
         * Stops the parser once it has read past {@code limit} bytes of the stream: a read that
         * would go further throws {@link TooLong}. Long.MAX_VALUE: no limit.
         */
        void limit(long limit) {
            this.limit = limit;
        }

        /** Bytes handed to the reader so far. */
        long position() {
            return offset + start;
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
