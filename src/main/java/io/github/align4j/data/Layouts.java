package io.github.align4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The row layouts of public preference datasets: how to find prompt, completions and label in a
 * row, and how to tell the layout from the columns of the first row.
 *
 * <ul>
 *   <li>{@code standard}: {@code prompt}, {@code chosen}, {@code rejected} strings.
 *   <li>{@code implicit_prompt}: only {@code chosen} and {@code rejected} strings, each the whole
 *       transcript (Anthropic HH-RLHF); the prompt is their shared start, see
 *       {@link #extractPrompt}.
 *   <li>{@code conversational}: {@code chosen} / {@code rejected} lists of {role, content}
 *       messages, {@code prompt} a list, a string (one user message) or absent (the messages both
 *       conversations start with). When a conversation starts with the prompt's messages
 *       (HuggingFaceH4/ultrafeedback_binarized) they are removed from it.
 *   <li>{@code orca}: Intel/orca_dpo_pairs: {@code system}, {@code question}, {@code chosen},
 *       {@code rejected} strings.
 *   <li>{@code openai}: OpenAI / Azure preference fine-tuning: {@code input.messages},
 *       {@code preferred_output}, {@code non_preferred_output}.
 *   <li>{@code sharegpt}: LLaMA-Factory: {@code conversations} of {from, value}, {@code chosen} and
 *       {@code rejected} messages, optional {@code system}.
 *   <li>{@code unpaired}: {@code prompt}, {@code completion} (strings or message lists) and a
 *       boolean {@code label}.
 *   <li>{@code unpaired_messages}: {@code messages} and a boolean {@code label}; the last message is
 *       the completion.
 * </ul>
 */
final class Layouts {
    static final String STANDARD = "standard";
    static final String IMPLICIT = "implicit_prompt";
    static final String CONVERSATIONAL = "conversational";
    static final String ORCA = "orca";
    static final String OPENAI = "openai";
    static final String SHAREGPT = "sharegpt";
    static final String UNPAIRED = "unpaired";
    static final String UNPAIRED_MESSAGES = "unpaired_messages";

    static final List<String> ALL = List.of(STANDARD, IMPLICIT, CONVERSATIONAL, ORCA, OPENAI, SHAREGPT, UNPAIRED,
            UNPAIRED_MESSAGES);

    /** Layouts whose rows are chat messages: these always go through the chat template. */
    static final Set<String> CHAT = Set.of(CONVERSATIONAL, ORCA, OPENAI, SHAREGPT, UNPAIRED_MESSAGES);

    private static final Map<String, Set<String>> USED = Map.of(
            STANDARD, Set.of("prompt", "chosen", "rejected"),
            IMPLICIT, Set.of("chosen", "rejected"),
            CONVERSATIONAL, Set.of("prompt", "chosen", "rejected", "messages"),
            ORCA, Set.of("system", "question", "chosen", "rejected"),
            OPENAI, Set.of("input", "preferred_output", "non_preferred_output"),
            SHAREGPT, Set.of("conversations", "chosen", "rejected", "system"),
            UNPAIRED, Set.of("prompt", "completion", "label"),
            UNPAIRED_MESSAGES, Set.of("messages", "label"));

    private Layouts() {}

    /** A row's problem, without the file and line (the caller adds them). */
    static final class BadRow extends Exception {
        private static final long serialVersionUID = 1L;

        BadRow(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * A row reduced to prompt and completions. Each of prompt/chosen/rejected is a {@code String}
     * (plain text) or a {@code List<Message>}; for unpaired rows {@code chosen} is the completion
     * and {@code rejected} is null.
     */
    record Parsed(Object prompt, Object chosen, Object rejected, Boolean label, boolean chat,
            Map<String, String> meta, String promptField, String chosenField, String rejectedField) {}

    static boolean paired(String layout) {
        return !layout.equals(UNPAIRED) && !layout.equals(UNPAIRED_MESSAGES);
    }

    /** The layout of a first row from its columns; throws with the columns seen when none fits. */
    static String detect(JsonNode row, Columns cols, RawRow where) {
        if (row.has("input") && row.has("preferred_output") && row.has("non_preferred_output")) {
            return OPENAI;
        }
        if (row.has("conversations") && row.has("chosen") && row.has("rejected")) {
            return SHAREGPT;
        }
        if (row.has("chosen") && row.has("rejected")) {
            if (row.has("question") && !row.has("prompt")) {
                return ORCA;
            }
            if (row.path("chosen").isArray() || row.path("rejected").isArray() || row.path("prompt").isArray()) {
                return CONVERSATIONAL;
            }
            return row.has("prompt") ? STANDARD : IMPLICIT;
        }
        if (row.has("messages") && row.has("label")) {
            return UNPAIRED_MESSAGES;
        }
        if (row.has("prompt") && row.has("completion") && row.has("label")) {
            return UNPAIRED;
        }
        List<String> names = new ArrayList<>();
        row.fieldNames().forEachRemaining(names::add);
        throw new Align4jException(where.at() + ": cannot tell the dataset layout from the columns " + names
                + ". Expected one of: prompt+chosen+rejected (standard or conversational), chosen+rejected "
                + "(implicit prompt), system+question+chosen+rejected (orca), input+preferred_output+"
                + "non_preferred_output (openai), conversations+chosen+rejected (sharegpt), prompt+completion+label "
                + "(unpaired), messages+label (unpaired_messages). Rename columns with --columns to=from (e.g. "
                + "prompt=question,chosen=response_j,rejected=response_k; from Java DataOptions.withColumns)"
                + (cols.isEmpty() ? "" : " (given: " + cols + ")") + " or force one with --format (DataOptions.withFormat).");
    }

    /** Validates a {@code --format} name; null or "auto" means detect. */
    static String checkFormat(String format) {
        if (format == null || format.isBlank() || format.equalsIgnoreCase("auto")) {
            return null;
        }
        String f = format.strip().toLowerCase(Locale.ROOT).replace('-', '_');
        if (!ALL.contains(f)) {
            throw new Align4jException("Unknown dataset format '" + format + "': expected auto or one of " + ALL + ".");
        }
        return f;
    }

    /** Applies {@code columns} ({@code to=from}) and the layout to one row. */
    static Parsed parse(String layout, JsonNode row, Columns cols, boolean csv) throws BadRow {
        Map<String, String> meta = meta(layout, row);
        switch (layout) {
            case STANDARD: {
                String p = text(row, "prompt", cols);
                String c = text(row, "chosen", cols);
                String r = text(row, "rejected", cols);
                return new Parsed(p, c, r, null, false, meta, "prompt", "chosen", "rejected");
            }
            case IMPLICIT: {
                String c = text(row, "chosen", cols);
                String r = text(row, "rejected", cols);
                String[] split = extractPrompt(c, r);
                if (split == null) {
                    throw new BadRow("fields " + cols.show("chosen") + " and " + cols.show("rejected")
                            + ": expected two transcripts that start with the same prompt, but they share no start (an "
                            + "implicit prompt is their shared start); give the prompt in its own 'prompt' column");
                }
                return new Parsed(split[0], split[1], split[2], null, false, meta, "chosen", "chosen", "rejected");
            }
            case CONVERSATIONAL: {
                JsonNode pn = row.get("prompt");
                List<Message> c = messagesOrText(row, "chosen", cols, "assistant");
                List<Message> r = messagesOrText(row, "rejected", cols, "assistant");
                List<Message> p;
                if (pn == null || pn.isNull()) {
                    int k = commonPrefix(c, r);
                    if (k == 0) {
                        throw new BadRow("fields " + cols.show("chosen") + " and " + cols.show("rejected")
                                + ": without a 'prompt' column both conversations must start with the same prompt "
                                + "messages, but their first messages differ");
                    }
                    p = c.subList(0, k);
                } else {
                    p = messagesOrText(row, "prompt", cols, "user");
                }
                return new Parsed(p, stripPrefix(c, p), stripPrefix(r, p), null, true, meta,
                        "prompt", "chosen", "rejected");
            }
            case ORCA: {
                JsonNode sys = row.get("system");
                List<Message> p = new ArrayList<>();
                if (sys != null && !sys.isNull()) {
                    String s = text(row, "system", cols);
                    if (!s.isEmpty()) {
                        p.add(new Message("system", s));
                    }
                }
                p.add(new Message("user", text(row, "question", cols)));
                List<Message> c = List.of(new Message("assistant", text(row, "chosen", cols)));
                List<Message> r = List.of(new Message("assistant", text(row, "rejected", cols)));
                return new Parsed(p, c, r, null, true, meta, "question", "chosen", "rejected");
            }
            case OPENAI: {
                JsonNode input = required(row, "input", cols);
                if (!input.isObject()) {
                    throw new BadRow("field " + cols.show("input") + ": expected an object {\"messages\": [...]}, got "
                            + describe(input));
                }
                List<Message> p = messages(input.get("messages"), "input.messages", false);
                List<Message> c = messages(required(row, "preferred_output", cols), cols.show("preferred_output"), true);
                List<Message> r = messages(required(row, "non_preferred_output", cols),
                        cols.show("non_preferred_output"), true);
                return new Parsed(p, c, r, null, true, meta, "input.messages", "preferred_output",
                        "non_preferred_output");
            }
            case SHAREGPT: {
                List<Message> p = new ArrayList<>();
                JsonNode sys = row.get("system");
                if (sys != null && !sys.isNull()) {
                    String s = text(row, "system", cols);
                    if (!s.isEmpty()) {
                        p.add(new Message("system", s));
                    }
                }
                p.addAll(messages(required(row, "conversations", cols), cols.show("conversations"), false));
                List<Message> c = messagesOrText(row, "chosen", cols, "assistant");
                List<Message> r = messagesOrText(row, "rejected", cols, "assistant");
                return new Parsed(p, c, r, null, true, meta, "conversations", "chosen", "rejected");
            }
            case UNPAIRED: {
                JsonNode pn = required(row, "prompt", cols);
                JsonNode cn = required(row, "completion", cols);
                Boolean label = label(row, cols, csv);
                if (pn.isTextual() && cn.isTextual()) {
                    return new Parsed(pn.asText(), cn.asText(), null, label, false, meta, "prompt", "completion", null);
                }
                List<Message> p = messagesOrText(row, "prompt", cols, "user");
                List<Message> c = messagesOrText(row, "completion", cols, "assistant");
                return new Parsed(p, stripPrefix(c, p), null, label, true, meta, "prompt", "completion", null);
            }
            case UNPAIRED_MESSAGES: {
                List<Message> m = messages(required(row, "messages", cols), cols.show("messages"), false);
                Boolean label = label(row, cols, csv);
                if (m.size() < 2) {
                    throw new BadRow("field " + cols.show("messages") + ": expected at least two messages (the prompt, "
                            + "then the completion as the last message), got " + m.size());
                }
                return new Parsed(m.subList(0, m.size() - 1), List.of(m.get(m.size() - 1)), null, label, true, meta,
                        "messages", "messages", null);
            }
            default:
                throw new IllegalArgumentException(layout);
        }
    }

    /**
     * Splits two whole transcripts into prompt and completions. The prompt is the longest common
     * prefix of {@code chosen} and {@code rejected}, cut back to a turn boundary: to the end of the
     * last assistant-turn marker it contains ({@code "\n\nAssistant:"} as in Anthropic HH-RLHF, or
     * {@code "\nAssistant:"}, {@code "<|im_start|>assistant\n"}, {@code "<|assistant|>\n"},
     * {@code "[/INST]"}, {@code "<|start_header_id|>assistant<|end_header_id|>\n\n"}), so the
     * completions start right after the marker (HH-RLHF's start with a space); when it contains
     * no marker, to the last whitespace, which then starts both completions (as TRL's
     * {@code extract_prompt} keeps the space with the completion).
     *
     * @return {prompt, chosen, rejected}, or null when the cut leaves no prompt
     */
    static String[] extractPrompt(String chosen, String rejected) {
        int n = Math.min(chosen.length(), rejected.length());
        int l = 0;
        while (l < n && chosen.charAt(l) == rejected.charAt(l)) {
            l++;
        }
        String common = chosen.substring(0, l);
        int cut = -1;
        for (String m : MARKERS) {
            int i = common.lastIndexOf(m);
            if (i >= 0 && i + m.length() > cut) {
                cut = i + m.length();
            }
        }
        if (cut < 0) {
            cut = 0;
            for (int i = l; i > 0; i--) {
                if ((i < chosen.length() && Character.isWhitespace(chosen.charAt(i)))
                        || (i < rejected.length() && Character.isWhitespace(rejected.charAt(i)))) {
                    cut = i;
                    break;
                }
            }
        }
        if (cut <= 0) {
            return null;
        }
        return new String[] {chosen.substring(0, cut), chosen.substring(cut), rejected.substring(cut)};
    }

    private static final List<String> MARKERS = List.of("\n\nAssistant:", "\nAssistant:", "<|im_start|>assistant\n",
            "<|assistant|>\n", "[/INST]", "<|start_header_id|>assistant<|end_header_id|>\n\n");

    private static int commonPrefix(List<Message> a, List<Message> b) {
        int k = 0;
        while (k < a.size() && k < b.size() && a.get(k).equals(b.get(k))) {
            k++;
        }
        return k;
    }

    private static List<Message> stripPrefix(List<Message> c, List<Message> p) {
        if (c.size() >= p.size() && c.subList(0, p.size()).equals(p)) {
            return c.subList(p.size(), c.size());
        }
        return c;
    }

    private static Map<String, String> meta(String layout, JsonNode row) {
        Set<String> used = USED.get(layout);
        Map<String, String> meta = null;
        for (Iterator<Map.Entry<String, JsonNode>> it = row.fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            if (used.contains(e.getKey()) || !(v.isNumber() || v.isBoolean() || (v.isTextual() && v.asText().length() <= 256))) {
                continue;
            }
            if (meta == null) {
                meta = new TreeMap<>();
            }
            meta.put(e.getKey(), v.asText());
        }
        return meta == null ? Map.of() : Map.copyOf(meta);
    }

    private static JsonNode required(JsonNode row, String name, Columns cols) throws BadRow {
        JsonNode n = row.get(name);
        if (n == null || n.isMissingNode()) {
            throw new BadRow("field " + cols.show(name) + ": missing; expected " + expected(name)
                    + (cols.has(name) ? "" : " (rename a column with --columns " + name + "=yourColumn, or DataOptions.withColumns)"));
        }
        return n;
    }

    private static String expected(String name) {
        return switch (name) {
            case "label" -> "true or false";
            case "input" -> "an object {\"messages\": [...]}";
            case "conversations", "messages", "preferred_output", "non_preferred_output" -> "a list of messages";
            default -> "a string";
        };
    }

    private static String text(JsonNode row, String name, Columns cols) throws BadRow {
        JsonNode n = required(row, name, cols);
        if (!n.isTextual()) {
            throw new BadRow("field " + cols.show(name) + ": expected a string, got " + describe(n));
        }
        return n.asText();
    }

    private static Boolean label(JsonNode row, Columns cols, boolean csv) throws BadRow {
        JsonNode n = required(row, "label", cols);
        if (n.isBoolean()) {
            return n.booleanValue();
        }
        if (csv && n.isTextual()) {
            String s = n.asText().strip().toLowerCase(Locale.ROOT);
            if (s.equals("true")) {
                return true;
            }
            if (s.equals("false")) {
                return false;
            }
        }
        throw new BadRow("field " + cols.show("label") + ": expected true or false (a JSON boolean"
                + (csv ? ", or the text true/false in CSV" : "") + "), got " + describe(n));
    }

    /** A string (one message of {@code role}) or a list of messages (or one message object). */
    private static List<Message> messagesOrText(JsonNode row, String name, Columns cols, String role) throws BadRow {
        JsonNode n = required(row, name, cols);
        if (n.isTextual()) {
            return List.of(new Message(role, n.asText()));
        }
        if (!n.isArray() && !n.isObject()) {
            throw new BadRow("field " + cols.show(name) + ": expected a string or a list of {role, content} messages, "
                    + "got " + describe(n));
        }
        return messages(n, cols.show(name), false);
    }

    /**
     * A list of {role, content} or ShareGPT {from, value} messages; a single message object is
     * accepted as a list of one.
     */
    static List<Message> messages(JsonNode n, String field, boolean allowEmpty) throws BadRow {
        if (field.indexOf('\'') < 0) {
            field = "'" + field + "'";
        }
        if (n == null || n.isMissingNode()) {
            throw new BadRow("field " + field + ": missing; expected a list of {role, content} messages");
        }
        if (n.isObject()) {
            return List.of(message(n, field, 0));
        }
        if (!n.isArray()) {
            throw new BadRow("field " + field + ": expected a list of {role, content} messages, got " + describe(n));
        }
        if (n.isEmpty() && !allowEmpty) {
            throw new BadRow("field " + field + ": expected a non-empty list of messages, got an empty list");
        }
        List<Message> out = new ArrayList<>(n.size());
        for (int i = 0; i < n.size(); i++) {
            out.add(message(n.get(i), field, i));
        }
        return out;
    }

    private static Message message(JsonNode m, String field, int i) throws BadRow {
        String at = "field " + field + ", message " + i;
        if (!m.isObject()) {
            throw new BadRow(at + ": expected an object {\"role\": ..., \"content\": ...}, got " + describe(m));
        }
        if (m.has("from") && !m.has("role")) {
            JsonNode from = m.get("from");
            JsonNode value = m.get("value");
            if (!from.isTextual()) {
                throw new BadRow(at + ": 'from' must be a string (human, gpt, system, ...), got " + describe(from));
            }
            String role = SHAREGPT_ROLES.get(from.asText().strip().toLowerCase(Locale.ROOT));
            if (role == null) {
                throw new BadRow(at + ": unknown 'from' value '" + from.asText() + "'; expected one of "
                        + SHAREGPT_ROLES.keySet());
            }
            if (value == null || !value.isTextual()) {
                throw new BadRow(at + ": 'value' must be a string, got " + describe(value));
            }
            return new Message(role, value.asText());
        }
        JsonNode role = m.get("role");
        if (role == null || !role.isTextual() || role.asText().isEmpty()) {
            throw new BadRow(at + ": 'role' must be a non-empty string (system, user, assistant), got "
                    + describe(role));
        }
        return new Message(role.asText(), content(m.get("content"), at));
    }

    private static String content(JsonNode c, String at) throws BadRow {
        if (c != null && c.isTextual()) {
            return c.asText();
        }
        if (c != null && c.isArray()) { // [{"type": "text", "text": "..."}]
            StringBuilder sb = new StringBuilder();
            for (JsonNode part : c) {
                JsonNode t = part.get("text");
                if (!part.isObject() || !"text".equals(part.path("type").asText("text")) || t == null || !t.isTextual()) {
                    throw new BadRow(at + ": 'content' parts must be {\"type\": \"text\", \"text\": ...}; other "
                            + "content (images, audio) is not supported, got " + describe(part));
                }
                sb.append(t.asText());
            }
            return sb.toString();
        }
        throw new BadRow(at + ": 'content' must be a string, got " + describe(c));
    }

    private static final Map<String, String> SHAREGPT_ROLES = new LinkedHashMap<>();

    static {
        SHAREGPT_ROLES.put("human", "user");
        SHAREGPT_ROLES.put("user", "user");
        SHAREGPT_ROLES.put("gpt", "assistant");
        SHAREGPT_ROLES.put("assistant", "assistant");
        SHAREGPT_ROLES.put("bot", "assistant");
        SHAREGPT_ROLES.put("model", "assistant");
        SHAREGPT_ROLES.put("system", "system");
        SHAREGPT_ROLES.put("function_call", "assistant");
        SHAREGPT_ROLES.put("observation", "tool");
        SHAREGPT_ROLES.put("tool", "tool");
    }

    /** "a string", "a number", "a list", ... for error messages. */
    static String describe(JsonNode n) {
        if (n == null || n.isMissingNode()) {
            return "nothing";
        }
        if (n.isNull()) {
            return "null";
        }
        if (n.isTextual()) {
            String s = n.asText();
            return "the string \"" + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + "\"";
        }
        if (n.isBoolean()) {
            return n.asText();
        }
        if (n.isNumber()) {
            return "the number " + n.asText();
        }
        if (n.isArray()) {
            return "a list";
        }
        return "an object";
    }

    /** The {@code columns} option ({@code to=from}) applied to rows and named in error messages. */
    static final class Columns {
        private final Map<String, String> toFrom;

        Columns(Map<String, String> toFrom) {
            this.toFrom = toFrom;
        }

        boolean isEmpty() {
            return toFrom.isEmpty();
        }

        boolean has(String to) {
            return toFrom.containsKey(to);
        }

        /** {@code 'chosen'} or {@code 'response_j' (mapped to 'chosen')}. */
        String show(String to) {
            String from = toFrom.get(to);
            return from == null ? "'" + to + "'" : "'" + from + "' (mapped to '" + to + "')";
        }

        /** The row with each {@code from} column (a dotted path reaches into objects) renamed {@code to}. */
        JsonNode apply(JsonNode row) {
            if (toFrom.isEmpty() || !row.isObject()) {
                return row;
            }
            ObjectNode out = ((ObjectNode) row).deepCopy();
            Map<String, JsonNode> values = new LinkedHashMap<>();
            for (Map.Entry<String, String> e : toFrom.entrySet()) {
                String from = e.getValue();
                JsonNode v = from.contains(".") && !row.has(from)
                        ? row.at("/" + from.replace(".", "/"))
                        : row.path(from);
                if (!v.isMissingNode()) {
                    values.put(e.getKey(), v);
                    out.remove(from);
                }
            }
            values.forEach(out::set);
            return out;
        }

        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder();
            toFrom.forEach((k, v) -> sb.append(sb.length() == 0 ? "" : ",").append(k).append('=').append(v));
            return sb.toString();
        }
    }
}
