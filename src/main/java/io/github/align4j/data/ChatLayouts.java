package io.github.align4j.data;

import static io.github.align4j.data.RowFields.describe;
import static io.github.align4j.data.RowFields.messages;
import static io.github.align4j.data.RowFields.messagesOrText;
import static io.github.align4j.data.RowFields.required;
import static io.github.align4j.data.RowFields.stripPrefix;
import static io.github.align4j.data.RowFields.text;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.data.Layouts.BadRow;
import io.github.align4j.data.Layouts.Columns;
import io.github.align4j.data.Layouts.Parsed;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The chat-message pair layouts of {@link Layouts}: {@code conversational}, {@code orca},
 * {@code openai} and {@code sharegpt}. Each returns the prompt and both completions as messages.
 */
final class ChatLayouts {
    private ChatLayouts() {}

    /**
     * {@code chosen} / {@code rejected} messages; {@code prompt} a list, a string or absent (the
     * messages both start with).
     */
    static Parsed conversational(JsonNode row, Columns cols, Map<String, String> meta) throws BadRow {
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

    /** Intel/orca_dpo_pairs: {@code system}, {@code question}, {@code chosen}, {@code rejected} strings. */
    static Parsed orca(JsonNode row, Columns cols, Map<String, String> meta) throws BadRow {
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

    /** OpenAI / Azure: {@code input.messages}, {@code preferred_output}, {@code non_preferred_output}. */
    static Parsed openai(JsonNode row, Columns cols, Map<String, String> meta) throws BadRow {
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

    /** LLaMA-Factory: {@code conversations} of {from, value}, {@code chosen}, {@code rejected}, optional {@code system}. */
    static Parsed sharegpt(JsonNode row, Columns cols, Map<String, String> meta) throws BadRow {
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

    private static int commonPrefix(List<Message> a, List<Message> b) {
        int k = 0;
        while (k < a.size() && k < b.size() && a.get(k).equals(b.get(k))) {
            k++;
        }
        return k;
    }
}
