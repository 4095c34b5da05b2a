package io.github.align4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Strict UTF-8: the decoder and the streaming guard agree with Java's REPORT decoder. */
class Utf8Test {
    /** Hands out one byte per read, so that every multi-byte sequence is split across reads. */
    private static InputStream trickle(byte[] b) {
        return new FilterInputStream(new ByteArrayInputStream(b)) {
            @Override
            public int read(byte[] buf, int off, int len) throws IOException {
                return super.read(buf, off, Math.min(len, 1));
            }
        };
    }

    private static byte[] guarded(byte[] in, List<Long> bad) throws IOException {
        Utf8.Guard g = new Utf8.Guard(trickle(in));
        byte[] out = g.readAllBytes();
        for (long o; (o = g.pollBadBefore(Long.MAX_VALUE)) >= 0;) {
            bad.add(o);
        }
        return out;
    }

    @Test
    void validTextPassesUnchanged() throws Exception {
        byte[] text = "plain, caf\u00e9, \u20ac, \uD83D\uDE00 \u4e2d\u6587".getBytes(StandardCharsets.UTF_8);
        List<Long> bad = new ArrayList<>();
        assertArrayEquals(text, guarded(text, bad));
        assertEquals(List.of(), bad);
        assertEquals("plain, caf\u00e9, \u20ac, \uD83D\uDE00 \u4e2d\u6587", Utf8.decode(text, 0, text.length));
    }

    @Test
    void everyIllFormedSequenceIsReportedAtItsFirstByte() throws Exception {
        byte[][] cases = {
            {'a', (byte) 0xff, 'b'}, // never valid
            {'a', (byte) 0xc0, (byte) 0x80}, // overlong NUL
            {'a', (byte) 0xe0, (byte) 0x80, (byte) 0x80}, // overlong 3-byte
            {'a', (byte) 0xed, (byte) 0xa0, (byte) 0x80}, // UTF-16 surrogate
            {'a', (byte) 0xf4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, // above U+10FFFF
            {'a', (byte) 0xe2, (byte) 0x82, 'x'}, // truncated in the middle
            {'a', (byte) 0xe2, (byte) 0x82}, // truncated at the end
        };
        for (byte[] c : cases) {
            List<Long> bad = new ArrayList<>();
            byte[] out = guarded(c, bad);
            assertEquals(1L, bad.get(0), java.util.Arrays.toString(c));
            assertEquals('?', out[1]);
            assertEquals(c.length, out.length);
            Utf8.Invalid e = assertThrows(Utf8.Invalid.class, () -> Utf8.decode(c, 0, c.length));
            assertEquals(1, e.offset, java.util.Arrays.toString(c));
        }
    }
}
