package io.github.align4j.data;

import static io.github.align4j.data.RowFields.label;
import static io.github.align4j.data.RowFields.messages;
import static io.github.align4j.data.RowFields.messagesOrText;
import static io.github.align4j.data.RowFields.required;
import static io.github.align4j.data.RowFields.stripPrefix;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.data.Layouts.BadRow;
import io.github.align4j.data.Layouts.Columns;
import io.github.align4j.data.Layouts.Parsed;
import java.util.List;
import java.util.Map;

/**
 * The unpaired (KTO) layouts of {@link Layouts}: {@code unpaired} (prompt, completion, label) and
 * {@code unpaired_messages} (messages whose last one is the completion, and a label). The
 * completion is returned as {@code chosen}; {@code rejected} is null.
 */
final class UnpairedLayouts {
    private UnpairedLayouts() {}

    /** {@code prompt}, {@code completion} (strings or message lists) and a boolean {@code label}. */
    static Parsed unpaired(JsonNode row, Columns cols, Map<String, String> meta, boolean csv) throws BadRow {
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

    /** {@code messages} and a boolean {@code label}; the last message is the completion. */
    static Parsed unpairedMessages(JsonNode row, Columns cols, Map<String, String> meta, boolean csv) throws BadRow {
        List<Message> m = messages(required(row, "messages", cols), cols.show("messages"), false);
        Boolean label = label(row, cols, csv);
        if (m.size() < 2) {
            throw new BadRow("field " + cols.show("messages") + ": expected at least two messages (the prompt, "
                    + "then the completion as the last message), got " + m.size());
        }
        return new Parsed(m.subList(0, m.size() - 1), List.of(m.get(m.size() - 1)), null, label, true, meta,
                "messages", "messages", null);
    }
}
