package io.github.align4j.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.model.TextTokenizer;
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
 * The prompts of a file for {@code generate} and {@code eval --judge}.
 *
 * <p>A JSONL file (optionally gzipped) whose first row has a text field {@code "prompt"} gives
 * that field of every row, in order, as raw text (the generator applies the chat template); other
 * fields are ignored, so plain preference files work too. Anything else (chat-message rows,
 * Parquet, CSV, globs) is read by {@link PreferenceData}, and its prompts come rendered (chat
 * template and generation prompt applied as in training).
 */
final class PromptRows {
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private PromptRows() {}

    /** Prompt texts, and whether they are already rendered through the chat template. */
    record Prompts(List<String> texts, boolean rendered) {}

    static Prompts load(Path file, String option, TextTokenizer tok, DataOptions options) {
        if (Files.isRegularFile(file) && plainPrompts(file)) {
            return new Prompts(read(file, option), false);
        }
        PreferenceData d = PreferenceData.load(file.toString(), options.withMaxLength(0).withMaxPromptLength(0), tok);
        List<String> texts = new ArrayList<>();
        d.texts().forEach(t -> texts.add(t.prompt()));
        return new Prompts(texts, d.chat());
    }

    /** Whether the first non-blank line of a .jsonl(.gz) file is an object with a text "prompt". */
    static boolean plainPrompts(Path file) {
        String name = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (!(name.endsWith(".jsonl") || name.endsWith(".jsonl.gz"))) {
            return false;
        }
        try (InputStream raw = Files.newInputStream(file);
                InputStream in = name.endsWith(".gz") ? new GZIPInputStream(raw) : raw;
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            String text;
            while ((text = r.readLine()) != null) {
                if (!text.isBlank()) {
                    JsonNode n = JSON.readTree(text);
                    return n != null && n.path("prompt").isTextual();
                }
            }
            return false;
        } catch (IOException e) {
            return false; // let the data package report it
        }
    }

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
                    throw new Align4jException(file + ":" + line + ": " + io.github.align4j.internal.Texts.jsonError("not valid JSON", e).replace("at line 1, ", "at ")
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
