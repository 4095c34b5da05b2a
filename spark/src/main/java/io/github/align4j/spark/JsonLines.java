package io.github.align4j.spark;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Texts;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** The driver's small JSON Lines inputs (prompts, a models list), read with a line cap; errors name the line. */
final class JsonLines {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonLines() {}

    /** One parsed line: where it is (for messages) and its JSON. */
    interface Row {
        void accept(String where, JsonNode n);
    }

    /**
     * Calls {@code row} for each non-blank line of {@code file}, in order. A line over {@code maxLine} characters, or
     * one that is not JSON, is refused naming the line (never quoting it).
     */
    static void read(Path file, int maxLine, Row row) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(Files.newInputStream(file), StandardCharsets.UTF_8))) {
            StringBuilder sb = new StringBuilder();
            long line = 0;
            boolean more = true;
            while (more) {
                int c = in.read();
                if (c >= 0 && c != '\n') {
                    if (sb.length() >= maxLine) {
                        throw new Align4jException(file + " line " + (line + 1) + ": longer than " + maxLine + " characters");
                    }
                    sb.append((char) c);
                    continue;
                }
                more = c >= 0;
                line++;
                String l = sb.toString().strip();
                sb.setLength(0);
                if (l.isEmpty()) {
                    continue;
                }
                JsonNode n;
                try {
                    n = JSON.readTree(l);
                } catch (JsonProcessingException e) {
                    throw new Align4jException(Texts.jsonError(file + " line " + line, e), e);
                }
                row.accept(file + " line " + line, n);
            }
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot read it: " + e.getMessage(), e);
        }
    }
}
