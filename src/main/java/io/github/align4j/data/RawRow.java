package io.github.align4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;

/**
 * One row as read from a file, before any layout is applied.
 *
 * @param file the file it came from
 * @param where {@code "line 7"} (JSONL, CSV: 1-based line) or {@code "row 3"} (JSON array, Parquet: 0-based)
 * @param index 0-based position among all rows of the dataset (all shards, in order)
 * @param node the row as a JSON object; null when {@code error} is set
 * @param error why the row could not be read (invalid JSON, invalid UTF-8, ...), else null
 * @param fromCsv true when every value is text because it came from a CSV cell
 */
record RawRow(Path file, String where, long index, JsonNode node, String error, boolean fromCsv) {

    /** {@code "data.jsonl line 7"}. */
    String at() {
        return file + " " + where;
    }
}
