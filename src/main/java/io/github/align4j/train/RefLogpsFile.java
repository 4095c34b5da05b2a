package io.github.align4j.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.internal.Texts;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code ref_logps_file}: the reference's log-probs of every data row, computed elsewhere (a Spark
 * cluster's {@code logprobs} job, or {@code align4j logprobs}): one JSON line per source row, in
 * order, with TRL's {@code ref_chosen_logps}/{@code ref_rejected_logps} (or {@code chosen_logps}/
 * {@code rejected_logps}; {@code ref_logps}/{@code logps} for unpaired rows) and the token counts
 * ({@code chosen_tokens}, ...) that tie each value to the row it was scored on. The file is
 * untrusted: read line by line with bounds, every value a finite log-prob, every count the row's.
 */
final class RefLogpsFile {
    private RefLogpsFile() {}

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Longest line read (a line of this format is under 200 bytes). */
    static final int MAX_LINE = 64 * 1024;

    /** Values per (prompt, completion) of the given rows, read from the file's lines for those rows. */
    static Map<ReferenceCache.Key, Float> read(Path file, List<TokenizedPair> trainPairs, List<TokenizedUnpaired> trainUnpaired,
            List<TokenizedPair> evalPairs, List<TokenizedUnpaired> evalUnpaired) {
        Map<Long, List<TokenizedPair>> pairs = new HashMap<>();
        Map<Long, List<TokenizedUnpaired>> unpaired = new HashMap<>();
        for (List<TokenizedPair> l : java.util.Arrays.asList(trainPairs, evalPairs)) {
            for (TokenizedPair p : l == null ? List.<TokenizedPair>of() : l) {
                pairs.computeIfAbsent(p.row(), k -> new ArrayList<>(1)).add(p);
            }
        }
        for (List<TokenizedUnpaired> l : java.util.Arrays.asList(trainUnpaired, evalUnpaired)) {
            for (TokenizedUnpaired u : l == null ? List.<TokenizedUnpaired>of() : l) {
                unpaired.computeIfAbsent(u.row(), k -> new ArrayList<>(2)).add(u);
            }
        }
        long last = -1;
        for (long r : pairs.keySet()) {
            last = Math.max(last, r);
        }
        for (long r : unpaired.keySet()) {
            last = Math.max(last, r);
        }
        String fix = "; score the training data again (align4j logprobs, or align4j-spark's logprobs job) with this "
                + "model and the same data options, or drop ref_logps_file (--ref-logps)";
        Map<ReferenceCache.Key, Float> out = new HashMap<>();
        if (!Files.isRegularFile(file)) {
            throw new Align4jException("ref_logps_file (--ref-logps) " + file + ": no such file");
        }
        try (BufferedReader in = new BufferedReader(new InputStreamReader(Files.newInputStream(file), StandardCharsets.UTF_8))) {
            long row = 0;
            for (; row <= last; row++) {
                String line = readLine(in, file, row);
                if (line == null) {
                    throw new Align4jException(file + ": " + row + " lines, but the data has row " + last + " (0-based)" + fix);
                }
                List<TokenizedPair> ps = pairs.get(row);
                List<TokenizedUnpaired> us = unpaired.get(row);
                if (ps == null && us == null) {
                    continue; // a row the data loader dropped, or one this run does not use
                }
                JsonNode o;
                try {
                    o = JSON.readTree(line);
                } catch (JsonProcessingException e) {
                    throw new Align4jException(Texts.jsonError(file + " line " + (row + 1), e) + fix, e);
                }
                if (o == null || !o.isObject()) {
                    throw new Align4jException(file + " line " + (row + 1) + ": not a JSON object" + fix);
                }
                for (TokenizedPair p : ps == null ? List.<TokenizedPair>of() : ps) {
                    out.put(ReferenceCache.key(p.prompt(), p.chosen()), value(o, file, row, "chosen", p.chosen().length, fix));
                    out.put(ReferenceCache.key(p.prompt(), p.rejected()), value(o, file, row, "rejected", p.rejected().length,
                            fix));
                }
                for (TokenizedUnpaired u : us == null ? List.<TokenizedUnpaired>of() : us) {
                    String side = o.has("ref_logps") || o.has("logps") ? "" : u.desirable() ? "chosen" : "rejected";
                    out.put(ReferenceCache.key(u.prompt(), u.completion()), value(o, file, row, side, u.completion().length,
                            fix));
                }
            }
        } catch (IOException e) {
            throw new Align4jException("ref_logps_file (--ref-logps) " + file + ": cannot read it: " + e.getMessage(), e);
        }
        return out;
    }

    /** The line of one row, refused when longer than {@link #MAX_LINE} (no unbounded line is held). */
    private static String readLine(BufferedReader in, Path file, long row) throws IOException {
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) >= 0) {
            if (c == '\n') {
                return sb.toString();
            }
            if (sb.length() >= MAX_LINE) {
                throw new Align4jException(file + " line " + (row + 1) + ": longer than " + MAX_LINE + " characters; a line "
                        + "of a logprobs file is a few numbers");
            }
            sb.append((char) c);
        }
        return sb.length() == 0 ? null : sb.toString();
    }

    /** {@code ref_<side>_logps} or {@code <side>_logps} ({@code ref_logps}/{@code logps} when side is ""), checked. */
    private static float value(JsonNode o, Path file, long row, String side, int tokens, String fix) {
        String pre = side.isEmpty() ? "" : side + "_";
        String name = o.has("ref_" + pre + "logps") ? "ref_" + pre + "logps" : pre + "logps";
        JsonNode v = o.get(name);
        String where = file + " line " + (row + 1) + " (data row " + row + ")";
        if (v == null || !v.isNumber()) {
            throw new Align4jException(where + ": no number '" + name + "'" + (v != null && v.isNull()
                    ? " (null: the row was dropped when the file was scored)" : "") + fix);
        }
        double d = v.asDouble();
        if (!Double.isFinite(d) || d > 0 || !Float.isFinite((float) d)) {
            throw new Align4jException(where + ": '" + name + "' is " + d + ", not a log-probability (finite, at most 0)" + fix);
        }
        JsonNode n = o.get(pre + "tokens");
        if (n != null && (!n.canConvertToInt() || n.asInt() != tokens)) {
            throw new Align4jException(where + ": '" + pre + "tokens' is " + Texts.printable(n.toString().length() > 40
                    ? n.toString().substring(0, 40) + "…" : n.toString()) + " but the row has " + tokens
                    + " completion tokens here: the file was scored on other data or data options (max_length, chat "
                    + "template, tokenizer)" + fix);
        }
        return (float) d;
    }
}
