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
 * Empty lines are skipped. Every value is a string. A record holds at most
 * {@link Sources.Limits#maxRowBytes()} bytes and, past the header's count, no extra fields: a
 * longer one is a bad row, read to its end without being kept (or the end of the reading).
 */
final class CsvRows {
    /** Most columns a header may name. */
    static final int MAX_COLUMNS = 1 << 16;
    private static final byte[] EMPTY = new byte[0];

    private final InputStream in;
    private final Sources.Limits limits;
    private final byte[] buf = new byte[1 << 16];
    private int pos;
    private int lim;
    private boolean eof;
    private long line = 1;
    private byte[] field = new byte[256];
    private int flen;
    private List<byte[]> rec;
    private int maxFields;
    private long fields;
    private long recBytes;
    private boolean over;

    private CsvRows(InputStream in, Sources.Limits limits) {
        this.in = in;
        this.limits = limits;
    }

    /** Thrown inside a record longer than the cap when such rows are not skipped. */
    private static final class OverLong extends IOException {
        private static final long serialVersionUID = 1L;
    }

    static void read(Path f, InputStream in, Sources.Limits limits, long[] index, Consumer<RawRow> sink)
            throws IOException {
        CsvRows r = new CsvRows(in, limits);
        List<byte[]> header;
        long headerLine;
        do {
            headerLine = r.line;
            try {
                header = r.record(MAX_COLUMNS + 1, false);
            } catch (OverLong | Unterminated e) {
                header = null;
            }
            if (r.over || (header == null && r.recBytes > 0)) {
                throw new Align4jException(f + " line " + headerLine + ": the header row "
                        + (r.over ? limits.tooLong("", -1).substring(1) : "has a quoted field that is never closed"));
            }
            if (header == null) {
                return; // empty file: no rows
            }
            if (r.fields > MAX_COLUMNS) {
                throw new Align4jException(f + " line " + headerLine + ": the header names more than " + MAX_COLUMNS
                        + " columns; is this a CSV file with a header row?");
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
                rec = r.record(names.size() + 1, limits.skipLongRows());
            } catch (OverLong o) {
                Sources.tooLong(f, "line " + start, "the record", -1, limits, index, sink, true);
                return; // not reached: tooLong stops the reading
            } catch (Unterminated u) {
                if (r.over) {
                    Sources.tooLong(f, "line " + start, "the record", r.recBytes, limits, index, sink, true);
                    return;
                }
                sink.accept(new RawRow(f, "line " + start, index[0]++, null,
                        "a quoted field (\"...) is never closed before the end of the file; close it with a double quote "
                                + "and write quotes inside it as \"\"", true));
                return;
            }
            if (rec == null) {
                return;
            }
            String where = "line " + start;
            if (r.over) {
                Sources.tooLong(f, where, "the record", r.recBytes, limits, index, sink, true);
                continue;
            }
            if (isEmptyLine(rec)) {
                continue;
            }
            if (r.fields != names.size()) {
                sink.accept(new RawRow(f, where, index[0]++, null,
                        "expected " + names.size() + " fields (one per header column), got " + r.fields
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

    /**
     * The fields of the next record, or null at the end of the input; keeps at most
     * {@code maxFields} of them ({@link #fields} counts all). Past the byte cap it sets
     * {@link #over} and keeps nothing more: with {@code skipLong} it reads on to the record's end,
     * else it throws {@link OverLong} at once.
     */
    private List<byte[]> record(int maxFields, boolean skipLong) throws IOException {
        this.maxFields = maxFields;
        fields = 0;
        recBytes = 0;
        over = false;
        int c = read();
        if (c < 0) {
            return null;
        }
        List<byte[]> out = new ArrayList<>();
        rec = out;
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
                            add('"', skipLong);
                        } else {
                            break;
                        }
                    } else {
                        if (d == '\n') {
                            line++;
                        }
                        add(d, skipLong);
                    }
                }
                c = read(); // after the closing quote: a separator, a line end or (leniently) more text
                continue;
            }
            if (c < 0 || c == '\n' || c == '\r') {
                endField();
                if (c == '\r' && peek() == '\n') {
                    read();
                }
                if (c >= 0) {
                    line++;
                }
                return out;
            }
            if (c == ',') {
                endField();
                count(skipLong);
                flen = 0;
                c = read();
                continue;
            }
            add(c, skipLong);
            c = read();
        }
    }

    private void endField() {
        fields++;
        if (!over && rec.size() < maxFields) {
            rec.add(flen == 0 ? EMPTY : Arrays.copyOf(field, flen));
        }
    }

    /** Counts one byte of the record against the cap. */
    private void count(boolean skipLong) throws OverLong {
        recBytes++;
        if (!over && recBytes > limits.maxRowBytes()) {
            over = true;
            rec.clear();
            if (!skipLong) {
                throw new OverLong();
            }
        }
    }

    private void add(int b, boolean skipLong) throws OverLong {
        count(skipLong);
        if (over) {
            flen = 1; // the field has begun (a later '"' is text, not an opening quote); its bytes are not kept
            return;
        }
        if (flen == field.length) {
            field = Arrays.copyOf(field, LineReader.grownSize(field.length, flen + 1L, limits.maxRowBytes()));
        }
        field[flen++] = (byte) b;
    }
}
