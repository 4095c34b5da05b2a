package io.github.align4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.data.Layouts.BadRow;
import io.github.align4j.data.Layouts.Columns;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Reading one field of a row for {@link Layouts}: required fields, strings, labels and chat
 * messages ({role, content}, ShareGPT's {from, value}, text content parts), each refusing a wrong
 * type with a {@link BadRow} that names the field and what it holds.
 */
final class RowFields {
    private RowFields() {}

    /** {@code c} without {@code p}'s messages when it starts with them. */
    static List<Message> stripPrefix(List<Message> c, List<Message> p) {
        if (c.size() >= p.size() && c.subList(0, p.size()).equals(p)) {
            return c.subList(p.size(), c.size());
        }
        return c;
    }

    static JsonNode required(JsonNode row, String name, Columns cols) throws BadRow {
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

    static String text(JsonNode row, String name, Columns cols) throws BadRow {
        JsonNode n = required(row, name, cols);
        if (!n.isTextual()) {
            throw new BadRow("field " + cols.show(name) + ": expected a string, got " + describe(n));
        }
        return n.asText();
    }

    static Boolean label(JsonNode row, Columns cols, boolean csv) throws BadRow {
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
    static List<Message> messagesOrText(JsonNode row, String name, Columns cols, String role) throws BadRow {
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
}
