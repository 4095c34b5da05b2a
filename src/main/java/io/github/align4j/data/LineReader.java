package io.github.align4j.data;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * Splits a byte stream on '\n' without decoding it, so that a bad byte is pinned to its line.
 * It holds at most {@code cap} bytes of a line: a longer one is reported by {@link #tooLong()}
 * and its bytes are counted (in a long: a line may be any length), never kept.
 */
final class LineReader {
    private final InputStream in;
    private final byte[] buf = new byte[1 << 16];
    private final long cap;
    private int pos;
    private int lim;
    private boolean eof;
    private byte[] line = new byte[1 << 12];
    private int len;
    private long total;
    private boolean tooLong;
    private boolean skipped;
    private boolean stopped;

    LineReader(InputStream in, long cap) {
        if (cap < 1 || cap > DataOptions.MAX_LINE_BYTES_LIMIT) {
            throw new IllegalArgumentException("cap " + cap);
        }
        this.in = in;
        this.cap = cap;
    }

    /**
     * Reads the next line; false at the end of the input. A line longer than the cap sets
     * {@link #tooLong()}: with {@code skipLong} it is read to its end (counted, not kept) and the
     * next call reads the line after it; without, reading stops inside it and this reader is done.
     */
    boolean next(boolean skipLong) throws IOException {
        if (stopped) {
            throw new IllegalStateException("the reader stopped inside a line longer than the cap");
        }
        len = 0;
        total = 0;
        tooLong = false;
        skipped = false;
        boolean any = false;
        while (true) {
            if (pos == lim) {
                if (eof) {
                    skipped = tooLong;
                    return any;
                }
                int n = in.read(buf, 0, buf.length);
                if (n < 0) {
                    eof = true;
                    skipped = tooLong;
                    return any;
                }
                pos = 0;
                lim = n;
            }
            any = true;
            int i = pos;
            while (i < lim && buf[i] != '\n') {
                i++;
            }
            int n = i - pos;
            total += n;
            if (!tooLong) {
                if (total > cap) {
                    tooLong = true;
                    len = 0;
                } else {
                    append(pos, n);
                }
            }
            if (i < lim) {
                pos = i + 1;
                skipped = tooLong;
                return true;
            }
            pos = lim;
            if (tooLong && !skipLong) {
                stopped = true;
                return true;
            }
        }
    }

    private void append(int from, int n) {
        if (len + n > line.length) { // len + n <= cap < Integer.MAX_VALUE: no overflow
            line = Arrays.copyOf(line, grownSize(line.length, len + n, cap));
        }
        System.arraycopy(buf, from, line, len, n);
        len += n;
    }

    /** The new size of a buffer of {@code current} bytes that must hold {@code needed}: double, within the cap. */
    static int grownSize(int current, long needed, long cap) {
        if (needed > cap) {
            throw new IllegalArgumentException(needed + " > cap " + cap);
        }
        return (int) Math.min(cap, Math.max(2L * current, needed));
    }

    /** True when the last line was longer than the cap: {@link #bytes()} holds none of it. */
    boolean tooLong() {
        return tooLong;
    }

    /** True when the last line was too long and was read to its end ({@link #total()} is its length). */
    boolean skipped() {
        return skipped;
    }

    /** Bytes of the last line read (without the '\n'): its length, or, when stopped inside it, how far it got. */
    long total() {
        return total;
    }

    byte[] bytes() {
        return line;
    }

    int length() {
        return len;
    }
}
