package io.github.align4j.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.model.TextTokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * TO BE REPLACED by {@code io.github.align4j.data.PreferenceData} once the data package lands (it
 * adds conversational rows, chat templates, other dataset layouts, Parquet and globs). Until then,
 * this is the smallest reader that lets {@code align4j logprobs} work: JSONL (optionally
 * gzipped), one object per line, blank lines skipped, with plain-text fields only.
 *
 * <ul>
 *   <li>paired rows {@code {"prompt", "chosen", "rejected"}};
 *   <li>unpaired rows {@code {"prompt", "completion", "label"}} ({@code label} optional here, a
 *       boolean when present).
 * </ul>
 *
 * <p>Tokenization follows TRL's DPOTrainer for decoder-only models: prompt and completion are
 * tokenized separately without special tokens, the EOS id is appended to each completion, no BOS.
 * Truncation: the prompt keeps its last {@code maxPromptLength} tokens; then each completion is
 * cut from the right so that prompt + completion fits in {@code maxLength} tokens.
 */
final class LogprobsRows {
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /** The rows of one file: all paired or all unpaired; {@code lines[i]} is row i's 1-based line. */
    record Rows(Path file, boolean paired, List<TokenizedPair> pairs, List<TokenizedUnpaired> unpaired, long[] lines) {
        int size() {
            return paired ? pairs.size() : unpaired.size();
        }
    }

    private LogprobsRows() {}

    /**
     * @param eos the id appended to every completion
     * @param maxLength 0 for no limit
     * @param maxPromptLength 0 for no limit
     * @param maxPositions the longest sequence the model accepts (GPT-2's n_positions), or 0 for no check
     */
    static Rows read(Path file, TextTokenizer tok, int eos, int maxLength, int maxPromptLength, int maxPositions) {
        List<TokenizedPair> pairs = new ArrayList<>();
        List<TokenizedUnpaired> unpaired = new ArrayList<>();
        List<Long> lines = new ArrayList<>();
        Boolean paired = null;
        long firstLine = 0;
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
                String where = file + ":" + line;
                JsonNode n;
                try {
                    n = JSON.readTree(text);
                } catch (JsonProcessingException e) {
                    throw new Align4jException(where + ": not valid JSON: " + e.getOriginalMessage()
                            + ". Each line must be one JSON object.");
                }
                if (n == null || !n.isObject()) {
                    throw new Align4jException(where + ": expected a JSON object, got " + abbreviate(text));
                }
                boolean isPair = n.has("chosen") || n.has("rejected");
                boolean isUnpaired = n.has("completion");
                if (isPair == isUnpaired) {
                    throw new Align4jException(where + ": expected the keys prompt, chosen, rejected (paired) or "
                            + "prompt, completion, label (unpaired); found " + keys(n));
                }
                if (paired == null) {
                    paired = isPair;
                    firstLine = line;
                } else if (paired != isPair) {
                    throw new Align4jException(where + ": this row is " + (isPair ? "paired" : "unpaired")
                            + " but line " + firstLine + " was " + (paired ? "paired" : "unpaired")
                            + "; put paired and unpaired rows in separate files");
                }
                int[] prompt = truncatePrompt(tok.encode(text(n, "prompt", where)), maxPromptLength);
                long row = lines.size();
                if (isPair) {
                    int[] chosen = completion(tok, text(n, "chosen", where), eos, prompt, maxLength, where);
                    int[] rejected = completion(tok, text(n, "rejected", where), eos, prompt, maxLength, where);
                    checkPositions(prompt.length + Math.max(chosen.length, rejected.length), maxPositions, where);
                    pairs.add(new TokenizedPair(prompt, chosen, rejected, row));
                } else {
                    JsonNode label = n.get("label");
                    if (label != null && !label.isNull() && !label.isBoolean()) {
                        throw new Align4jException(where + ": key 'label' must be true or false, got " + label);
                    }
                    int[] completion = completion(tok, text(n, "completion", where), eos, prompt, maxLength, where);
                    checkPositions(prompt.length + completion.length, maxPositions, where);
                    unpaired.add(new TokenizedUnpaired(prompt, completion, label == null || label.asBoolean(true), row));
                }
                lines.add(line);
            }
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot read: " + e, e);
        }
        if (paired == null) {
            throw new Align4jException(file + ": no rows; expected JSON lines like "
                    + "{\"prompt\": \"...\", \"chosen\": \"...\", \"rejected\": \"...\"}");
        }
        return new Rows(file, paired, pairs, unpaired, lines.stream().mapToLong(Long::longValue).toArray());
    }

    private static String text(JsonNode n, String key, String where) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            throw new Align4jException(where + ": key '" + key + "' is missing; found " + keys(n));
        }
        if (v.isArray()) {
            throw new Align4jException(where + ": key '" + key + "' is a list (conversational format), which "
                    + "logprobs does not read yet; give it as text with the chat template already applied");
        }
        if (!v.isTextual()) {
            throw new Align4jException(where + ": key '" + key + "' must be a string, got " + abbreviate(v.toString()));
        }
        return v.asText();
    }

    private static int[] truncatePrompt(int[] prompt, int maxPromptLength) {
        if (maxPromptLength > 0 && prompt.length > maxPromptLength) {
            return Arrays.copyOfRange(prompt, prompt.length - maxPromptLength, prompt.length);
        }
        return prompt;
    }

    private static int[] completion(TextTokenizer tok, String text, int eos, int[] prompt, int maxLength, String where) {
        int[] ids = tok.encode(text);
        int[] withEos = Arrays.copyOf(ids, ids.length + 1);
        withEos[ids.length] = eos;
        if (maxLength > 0 && prompt.length + withEos.length > maxLength) {
            int keep = maxLength - prompt.length;
            if (keep <= 0) {
                throw new Align4jException(where + ": the prompt alone has " + prompt.length + " tokens, which leaves "
                        + "no room for the completion within --max-length " + maxLength
                        + "; set --max-prompt-length below --max-length");
            }
            return Arrays.copyOf(withEos, keep);
        }
        return withEos;
    }

    private static void checkPositions(int length, int maxPositions, String where) {
        if (maxPositions > 0 && length > maxPositions) {
            throw new Align4jException(where + ": prompt + completion is " + length + " tokens, more than the "
                    + "model's " + maxPositions + " positions; pass --max-length " + maxPositions + " (or less)");
        }
    }

    private static String keys(JsonNode n) {
        List<String> k = new ArrayList<>();
        n.fieldNames().forEachRemaining(k::add);
        return k.isEmpty() ? "no keys" : String.join(", ", k);
    }

    private static String abbreviate(String s) {
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }
}
