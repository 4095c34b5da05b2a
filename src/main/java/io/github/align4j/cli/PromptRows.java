package io.github.align4j.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * The prompts of a JSONL file (optionally gzipped): the text field {@code "prompt"} of every row,
 * in order; other fields (chosen, rejected, ...) are ignored, so preference files work too.
 *
 * <p>TO BE REPLACED by the prompts of {@code io.github.align4j.data.PreferenceData} once the data
 * package lands on this branch (conversational rows, other layouts, Parquet, globs).
 */
final class PromptRows {
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private PromptRows() {}

    static List<String> read(Path file, String option) {
        CliSupport.existingFile(file, option);
        List<String> out = new ArrayList<>();
        try (InputStream raw = Files.newInputStream(file);
                InputStream in = file.getFileName().toString().endsWith(".gz") ? new GZIPInputStream(raw) : raw;
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            String text;
            long line = 0;
            while ((text = r.readLine()) != null) {
                line++;
                if (text.isBlank()) {
                    continue;
                }
                JsonNode n;
                try {
                    n = JSON.readTree(text);
                } catch (JsonProcessingException e) {
                    throw new Align4jException(file + ":" + line + ": not valid JSON: " + e.getOriginalMessage()
                            + ". Each line must be one JSON object such as {\"prompt\": \"...\"}.");
                }
                JsonNode p = n == null ? null : n.get("prompt");
                if (p == null || !p.isTextual()) {
                    throw new Align4jException(file + ":" + line + ": expected a text field \"prompt\""
                            + (p == null ? "" : ", got " + p.getNodeType().name().toLowerCase(java.util.Locale.ROOT))
                            + ". Each line must look like {\"prompt\": \"...\"}.");
                }
                out.add(p.asText());
            }
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (out.isEmpty()) {
            throw new Align4jException(file + ": no rows; expected JSON lines like {\"prompt\": \"...\"}.");
        }
        return out;
    }
}
