package io.github.align4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Texts;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * MT-Bench's files as FastChat ships them (copies in this package's resources, Apache-2.0, see
 * {@code mt_bench/NOTICE.md}): the 80 questions, the judge prompts, the GPT-4 reference answers,
 * and FastChat's {@code model_answer} JSONL layout, read and written.
 */
final class MtBenchData {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String DIR = "mt_bench/";

    /** FastChat's sampling temperature per category (gen_model_answer.py); others get 0.7. */
    static final Map<String, Double> TEMPERATURE = Map.of("writing", 0.7, "roleplay", 0.7, "extraction", 0.0, "math", 0.0,
            "coding", 0.0, "reasoning", 0.0, "stem", 0.1, "humanities", 0.1);

    /** Categories judged with a reference answer (FastChat's NEED_REF_CATS). */
    static final List<String> NEED_REF = List.of("math", "reasoning", "coding");

    private MtBenchData() {}

    /** One question: its id, category and two turns. */
    record Question(int id, String category, List<String> turns) {
        double temperature() {
            return TEMPERATURE.getOrDefault(category, 0.7);
        }

        boolean needsReference() {
            return NEED_REF.contains(category);
        }
    }

    /** A judge prompt of judge_prompts.jsonl. */
    record JudgePrompt(String name, String system, String template) {}

    /** One model's answers: question id → its turns. */
    record Answers(String modelId, Map<Integer, List<String>> turns) {}

    static List<Question> questions() {
        List<Question> qs = new ArrayList<>();
        for (JsonNode n : resource("question.jsonl")) {
            List<String> turns = new ArrayList<>();
            n.get("turns").forEach(t -> turns.add(t.asText()));
            qs.add(new Question(n.get("question_id").asInt(), n.get("category").asText(), List.copyOf(turns)));
        }
        return qs;
    }

    static Map<String, JudgePrompt> judgePrompts() {
        Map<String, JudgePrompt> m = new LinkedHashMap<>();
        for (JsonNode n : resource("judge_prompts.jsonl")) {
            m.put(n.get("name").asText(), new JudgePrompt(n.get("name").asText(), n.get("system_prompt").asText(),
                    n.get("prompt_template").asText()));
        }
        return m;
    }

    /** GPT-4's reference answers: question id → turns. */
    static Map<Integer, List<String>> references() {
        Map<Integer, List<String>> m = new TreeMap<>();
        for (JsonNode n : resource("reference_answer_gpt-4.jsonl")) {
            List<String> turns = new ArrayList<>();
            n.path("choices").path(0).path("turns").forEach(t -> turns.add(t.asText()));
            m.put(n.get("question_id").asInt(), List.copyOf(turns));
        }
        return m;
    }

    private static List<JsonNode> resource(String name) {
        try (InputStream in = MtBenchData.class.getResourceAsStream(DIR + name)) {
            if (in == null) {
                throw new IllegalStateException("resource " + DIR + name + " is missing from the align4j jar");
            }
            List<JsonNode> out = new ArrayList<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (!line.isBlank()) {
                    out.add(JSON.readTree(line));
                }
            }
            return out;
        } catch (IOException e) {
            throw new IllegalStateException("resource " + DIR + name + ": " + e.getMessage(), e);
        }
    }

    /**
     * Python's {@code str.format(**values)} for FastChat's templates: each {@code {name}} is
     * replaced in one pass, so braces inside the values are left alone.
     */
    static String format(String template, Map<String, String> values) {
        StringBuilder sb = new StringBuilder(template.length() + 256);
        int i = 0;
        while (i < template.length()) {
            char c = template.charAt(i);
            if (c == '{') {
                int end = template.indexOf('}', i);
                String key = end < 0 ? null : template.substring(i + 1, end);
                if (key != null && values.containsKey(key)) {
                    sb.append(values.get(key));
                    i = end + 1;
                    continue;
                }
                throw new IllegalStateException("judge prompt template: unknown field at " + i + ": " + template);
            }
            sb.append(c);
            i++;
        }
        return sb.toString();
    }

    // ---- FastChat's model_answer JSONL ----------------------------------------------------------

    /** Largest answers file: FastChat's model_answer file of the 80 questions is under 5 MB. */
    static final long MAX_ANSWERS_BYTES = 32L << 20;
    /** Longest answer row (one question's turns): a row is a few KB, ~70 KB at 4096 tokens per turn. */
    static final int MAX_ANSWER_LINE_BYTES = 1 << 20;
    /** Longest model id: it names files and heads the report and the plot. */
    static final int MAX_ID_CHARS = 200;

    /**
     * Reads a {@code model_answer} file: one JSON object per line with {@code question_id},
     * {@code model_id} and {@code choices[0].turns}. The last row of a question wins (FastChat's
     * reorg keeps one). Lines that are not JSON (torn by a killed run) are skipped when
     * {@code tolerateTornEnd} (align4j's own file), else an error naming the line. Read line by
     * line: a file over {@link #MAX_ANSWERS_BYTES}, a line over {@link #MAX_ANSWER_LINE_BYTES} or a
     * is refused, naming the file and line (the model id is checked where it is used, see {@link #checkId}).
     */
    static Answers readAnswers(Path file, boolean tolerateTornEnd) {
        Map<Integer, List<String>> m = new TreeMap<>();
        String model = null;
        try {
            if (Files.size(file) > MAX_ANSWERS_BYTES) { // refused before a byte is read
                throw tooLarge(file);
            }
            try (InputStream in = Files.newInputStream(file)) {
                byte[] chunk = new byte[1 << 16];
                java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream(4096);
                long total = 0;
                int lineNo = 0;
                for (int n = in.read(chunk); n >= 0; n = in.read(chunk)) {
                    total += n;
                    if (total > MAX_ANSWERS_BYTES) { // a file that grows while it is read, or reports no size
                        throw tooLarge(file);
                    }
                    int start = 0;
                    for (int i = 0; i < n; i++) {
                        if (chunk[i] == '\n') {
                            append(line, chunk, start, i - start, file, lineNo + 1);
                            String mid = line(file, ++lineNo, line, tolerateTornEnd, m);
                            model = model == null ? mid : model;
                            line.reset();
                            start = i + 1;
                        }
                    }
                    append(line, chunk, start, n - start, file, lineNo + 1);
                }
                if (line.size() > 0) { // the last line, without a newline
                    String mid = line(file, ++lineNo, line, tolerateTornEnd, m);
                    model = model == null ? mid : model;
                }
            }
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot read the answers file (" + e.getClass().getSimpleName() + ")", e);
        }
        return new Answers(model, m);
    }

    /** Adds bytes to the line being read, refusing a line over {@link #MAX_ANSWER_LINE_BYTES}. */
    private static void append(java.io.ByteArrayOutputStream line, byte[] b, int off, int len, Path file, int lineNo) {
        if (line.size() + len > MAX_ANSWER_LINE_BYTES) {
            throw new Align4jException(String.format(java.util.Locale.ROOT, "%s line %d: longer than %,d bytes; an answer "
                    + "row of FastChat's model_answer layout is a few KB. Check the file", file, lineNo, MAX_ANSWER_LINE_BYTES));
        }
        line.write(b, off, len);
    }

    /** One whole line: decoded (strict UTF-8) and read as a row; returns its model id, or null. */
    private static String line(Path file, int lineNo, java.io.ByteArrayOutputStream bytes, boolean tolerateTornEnd,
            Map<Integer, List<String>> m) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes.toByteArray())).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            if (tolerateTornEnd) {
                return null; // torn inside a character by a killed run
            }
            throw new Align4jException(file + " line " + lineNo + ": not UTF-8 text; save the file as UTF-8");
        }
        return row(file, lineNo, text, tolerateTornEnd, m);
    }

    private static Align4jException tooLarge(Path file) {
        return new Align4jException(String.format(java.util.Locale.ROOT, "%s: larger than %,d bytes; FastChat's model_answer "
                + "file of the 80 questions is under 5 MB. Check the path", file, MAX_ANSWERS_BYTES));
    }

    /** One row into {@code m}; returns its model id (checked), or null when it has none or was skipped. */
    private static String row(Path file, int lineNo, String line, boolean tolerateTornEnd, Map<Integer, List<String>> m) {
        if (line.isBlank()) {
            return null;
        }
        String where = file + " line " + lineNo;
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (IOException e) {
            if (tolerateTornEnd) {
                return null; // a line torn by a killed run: that question is answered again
            }
            throw new Align4jException(where + ": " + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j
                    ? Texts.jsonError("not a JSON object", j) : "not a JSON object") + "; expected FastChat's "
                    + "model_answer layout {\"question_id\", \"model_id\", \"choices\": [{\"turns\": [...]}]}");
        }
        JsonNode id = n == null ? null : n.get("question_id");
        if (id == null || !id.isIntegralNumber() || !id.canConvertToInt()) {
            throw new Align4jException(where + ": 'question_id' is missing or not an integer (e.g. 81); "
                    + "MT-Bench's question ids are whole numbers from 81 to 160");
        }
        JsonNode turns = n.path("choices").path(0).path("turns");
        if (!turns.isArray() || turns.isEmpty()) {
            throw new Align4jException(where + ": 'choices[0].turns' is missing or empty; expected a list of answer texts");
        }
        List<String> ts = new ArrayList<>();
        for (JsonNode t : turns) {
            if (!t.isTextual()) {
                throw new Align4jException(where + ": 'choices[0].turns' must hold strings");
            }
            ts.add(t.asText());
        }
        m.put(id.asInt(), List.copyOf(ts));
        if (!n.path("model_id").isTextual()) {
            return null;
        }
        String mid = n.get("model_id").asText();
        return mid.isBlank() ? null : mid; // checked where it is used (MtBenchAnswers.answers): --model-id may replace it
    }

    /**
     * Refuses a model id that cannot name a file or head a report: over {@link #MAX_ID_CHARS}
     * characters, empty, or holding control characters.
     */
    static String checkId(String id, String where, String fix) {
        if (id.isBlank() || id.length() > MAX_ID_CHARS) {
            throw new Align4jException(String.format(java.util.Locale.ROOT, "%s: a model id of %,d characters; it names files "
                    + "and heads the report, so it has 1 to %d; %s", where, id.length(), MAX_ID_CHARS, fix));
        }
        if (id.indexOf('\n') >= 0 || id.indexOf('\t') >= 0 || !Texts.printable(id).equals(id)) {
            throw new Align4jException(where + ": the model id holds control characters; " + fix);
        }
        return id;
    }

    /** One answer row in FastChat's layout (answer_id: a hash of model and question, stable across runs). */
    static String answerLine(String modelId, int questionId, List<String> turns) {
        ObjectNode n = JSON.createObjectNode();
        n.put("question_id", questionId);
        n.put("answer_id", JudgeCache.key(modelId, String.valueOf(questionId), String.join("\u0000", turns)).substring(0, 22));
        n.put("model_id", modelId);
        ObjectNode c = n.putArray("choices").addObject();
        c.put("index", 0);
        turns.forEach(c.withArray("turns")::add);
        n.put("tstamp", System.currentTimeMillis() / 1000.0);
        try {
            return JSON.writeValueAsString(n);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A name safe as a file name: its first {@link #MAX_ID_CHARS} characters, those other than
     * letters, digits, '.', '_', '-' written as '_'.
     */
    static String fileName(String s) {
        String f = (s.length() > MAX_ID_CHARS ? s.substring(0, MAX_ID_CHARS) : s).replaceAll("[^A-Za-z0-9._-]", "_");
        return f.isEmpty() || f.startsWith(".") ? "_" + f : f;
    }
}
