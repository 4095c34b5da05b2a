package io.github.align4j.data;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A streaming RFC 4180 CSV reader: a header row names the columns; fields are separated by
 * commas; a field in double quotes may hold commas, line breaks and doubled quotes ({@code ""});
 * lines end with CRLF or LF. It splits bytes before decoding (the delimiters are ASCII, which
 * never occurs inside a multi-byte UTF-8 sequence), so invalid UTF-8 is pinned to its record.
 * Empty lines are skipped. Every value is a string.
 */
final class CsvRows {
    private final InputStream in;
    private final byte[] buf = new byte[1 << 16];
    private int pos;
    private int lim;
    private boolean eof;
    private long line = 1;
    private byte[] field = new byte[256];
    private int flen;

    private CsvRows(InputStream in) {
        this.in = in;
    }

    static void read(Path f, InputStream in, long[] index, Consumer<RawRow> sink) throws IOException {
        CsvRows r = new CsvRows(in);
        List<byte[]> header;
        long headerLine;
        do {
            headerLine = r.line;
            header = r.record();
            if (header == null) {
                return; // empty file: no rows
            }
        } while (isEmptyLine(header));
        byte[] first = header.get(0);
        if (first.length >= 3 && (first[0] & 0xff) == 0xef && (first[1] & 0xff) == 0xbb && (first[2] & 0xff) == 0xbf) {
            header.set(0, Arrays.copyOfRange(first, 3, first.length));
        }
        List<String> names = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (byte[] b : header) {
            String name;
            try {
                name = Utf8.decode(b, 0, b.length).strip();
            } catch (Utf8.Invalid e) {
                throw new Align4jException(f + " line " + headerLine + ": the header row is not valid UTF-8; the file "
                        + "must be UTF-8 encoded (re-save it as UTF-8).");
            }
            if (!seen.add(name)) {
                throw new Align4jException(f + " line " + headerLine + ": the header names column '" + name
                        + "' twice; column names must be unique.");
            }
            names.add(name);
        }
        while (true) {
            long start = r.line;
            List<byte[]> rec;
            try {
                rec = r.record();
            } catch (Unterminated u) {
                sink.accept(new RawRow(f, "line " + start, index[0]++, null,
                        "a quoted field (\"...) is never closed before the end of the file; close it with a double quote "
                                + "and write quotes inside it as \"\"", true));
                return;
            }
            if (rec == null) {
                return;
            }
            if (isEmptyLine(rec)) {
                continue;
            }
            String where = "line " + start;
            if (rec.size() != names.size()) {
                sink.accept(new RawRow(f, where, index[0]++, null,
                        "expected " + names.size() + " fields (one per header column), got " + rec.size()
                                + "; quote fields that contain commas or line breaks with double quotes", true));
                continue;
            }
            ObjectNode node = Sources.object();
            String error = null;
            for (int i = 0; i < rec.size(); i++) {
                byte[] b = rec.get(i);
                try {
                    node.put(names.get(i), Utf8.decode(b, 0, b.length));
                } catch (Utf8.Invalid e) {
                    error = "field '" + names.get(i) + "': invalid UTF-8 at byte " + (e.offset + 1)
                            + " of the field; the file must be UTF-8 encoded (re-save it as UTF-8)";
                    break;
                }
            }
            sink.accept(error == null
                    ? new RawRow(f, where, index[0]++, node, null, true)
                    : new RawRow(f, where, index[0]++, null, error, true));
        }
    }

    private static boolean isEmptyLine(List<byte[]> rec) {
        return rec.size() == 1 && rec.get(0).length == 0;
    }

    private static final class Unterminated extends IOException {
        private static final long serialVersionUID = 1L;
    }

    private int read() throws IOException {
        if (pos == lim) {
            if (eof) {
                return -1;
            }
            int n = in.read(buf, 0, buf.length);
            if (n < 0) {
                eof = true;
                return -1;
            }
            pos = 0;
            lim = n;
        }
        return buf[pos++] & 0xff;
    }

    private int peek() throws IOException {
        int c = read();
        if (c >= 0) {
            pos--;
        }
        return c;
    }

    /** The fields of the next record, or null at the end of the input. */
    private List<byte[]> record() throws IOException {
        int c = read();
        if (c < 0) {
            return null;
        }
        List<byte[]> out = new ArrayList<>();
        flen = 0;
        while (true) {
            if (c == '"' && flen == 0) {
                // quoted field
                while (true) {
                    int d = read();
                    if (d < 0) {
                        throw new Unterminated();
                    }
                    if (d == '"') {
                        if (peek() == '"') {
                            read();
                            add('"');
                        } else {
                            break;
                        }
                    } else {
                        if (d == '\n') {
                            line++;
                        }
                        add(d);
                    }
                }
                c = read(); // after the closing quote: a separator, a line end or (leniently) more text
                continue;
            }
            if (c < 0 || c == '\n' || c == '\r') {
                out.add(Arrays.copyOf(field, flen));
                if (c == '\r' && peek() == '\n') {
                    read();
                }
                if (c >= 0) {
                    line++;
                }
                return out;
            }
            if (c == ',') {
                out.add(Arrays.copyOf(field, flen));
                flen = 0;
                c = read();
                continue;
            }
            add(c);
            c = read();
        }
    }

    private void add(int b) {
        if (flen == field.length) {
            field = Arrays.copyOf(field, field.length * 2);
        }
        field[flen++] = (byte) b;
    }
}
