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
 *       {@link PairLayouts#extractPrompt}.
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
 *
 * <p>This class detects the layout and dispatches; each family parses its rows ({@link PairLayouts},
 * {@link ChatLayouts}, {@link UnpairedLayouts}) with the field readers of {@link RowFields}.
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
        return switch (layout) {
            case STANDARD -> PairLayouts.standard(row, cols, meta);
            case IMPLICIT -> PairLayouts.implicit(row, cols, meta);
            case CONVERSATIONAL -> ChatLayouts.conversational(row, cols, meta);
            case ORCA -> ChatLayouts.orca(row, cols, meta);
            case OPENAI -> ChatLayouts.openai(row, cols, meta);
            case SHAREGPT -> ChatLayouts.sharegpt(row, cols, meta);
            case UNPAIRED -> UnpairedLayouts.unpaired(row, cols, meta, csv);
            case UNPAIRED_MESSAGES -> UnpairedLayouts.unpairedMessages(row, cols, meta, csv);
            default -> throw new IllegalArgumentException(layout);
        };
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
