package io.github.align4j.data;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.data.Sources.Limits;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * The JSON array reader of {@link Sources}: streams the rows of one {@code [...]} array one value
 * at a time, numbered from 0, with the input guarded so that no row can make the parser read more
 * than the cap (plus its read-ahead) and invalid UTF-8 is pinned to its row. A syntax error ends
 * the file (an array has no line to resume at).
 */
final class JsonArrayRows {
    /** For values read one at a time out of a stream (trailing tokens are the next rows). */
    private static final ObjectMapper STREAM = new ObjectMapper(
            JsonFactory.builder().streamReadConstraints(Sources.CONSTRAINTS).build());

    /** How far a JSON parser reads ahead of the row it is building (its buffer, 8000 bytes, with room). */
    private static final long PARSER_READ_AHEAD = 1 << 16;

    private JsonArrayRows() {}


    static void read(Path f, InputStream in, Limits limits, long[] index, Consumer<RawRow> sink)
            throws IOException {
        Utf8.Guard guard = new Utf8.Guard(in);
        long row = 0;
        try (JsonParser p = Sources.JSON.getFactory().createParser(guard)) {
            JsonToken t = p.nextToken();
            if (t != JsonToken.START_ARRAY) {
                throw new Align4jException(f + ": expected a JSON array [...] of rows");
            }
            while (true) {
                t = p.nextToken();
                if (t == JsonToken.END_ARRAY) {
                    break;
                }
                if (t == null) {
                    throw new Align4jException(f + " row " + row + ": the file ends before the JSON array is closed "
                            + "with ']' (is it truncated?)");
                }
                long startByte = p.currentTokenLocation().getByteOffset();
                guard.limit(startByte + limits.maxRowBytes() + PARSER_READ_AHEAD);
                JsonNode node;
                try {
                    node = STREAM.readTree(p);
                } catch (Utf8.TooLong e) {
                    throw arrayRowTooLong(f, row, limits, e);
                } catch (JsonProcessingException e) {
                    if (e.getCause() instanceof Utf8.TooLong tl) {
                        throw arrayRowTooLong(f, row, limits, tl);
                    }
                    throw e;
                }
                guard.limit(Long.MAX_VALUE);
                long endByte = p.currentLocation().getByteOffset();
                long bad = guard.pollBadBefore(endByte);
                String where = "row " + row;
                if (endByte - startByte > limits.maxRowBytes()) {
                    row++;
                    Sources.tooLong(f, where, "the row", endByte - startByte, limits, index, sink, false);
                    continue;
                }
                if (bad >= 0) {
                    sink.accept(new RawRow(f, where, index[0]++, null,
                            "invalid UTF-8 at byte " + bad + " of the file; the file must be UTF-8 encoded (re-save it "
                                    + "as UTF-8)", false));
                } else if (!node.isObject()) {
                    sink.accept(new RawRow(f, where, index[0]++, null,
                            "expected a JSON object {...}, got " + RowFields.describe(node), false));
                } else {
                    sink.accept(new RawRow(f, where, index[0]++, node, null, false));
                }
                row++;
            }
            if (p.nextToken() != null) {
                throw new Align4jException(f + ": unexpected text after the closing ']' of the JSON array");
            }
        } catch (JsonProcessingException e) {
            long bad = guard.firstBad();
            String why = bad >= 0 ? "invalid UTF-8 at byte " + bad + " of the file"
                    : "not valid JSON (" + Sources.jsonProblem(e) + ")";
            var loc = e.getLocation();
            String line = loc != null && loc.getLineNr() > 0 ? " (line " + loc.getLineNr() + ")" : "";
            throw new Align4jException(f + " row " + row + line + ": " + why + ". The file is one JSON array, so a "
                    + "syntax error stops the whole file: fix the file, or convert it to JSON Lines (one object a line) "
                    + "so that bad rows can be skipped.", e);
        }
    }

    private static Align4jException arrayRowTooLong(Path f, long row, Limits limits, Utf8.TooLong e) {
        return new Align4jException(f + " row " + row + ": " + limits.tooLong("the row", -1) + ". The file is one JSON "
                + "array, so reading stops here even with --skip-bad-rows: convert it to JSON Lines (one object a "
                + "line) so that such rows can be skipped.", e);
    }
}
