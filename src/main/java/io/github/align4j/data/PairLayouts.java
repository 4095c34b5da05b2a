package io.github.align4j.data;

import static io.github.align4j.data.RowFields.text;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.data.Layouts.BadRow;
import io.github.align4j.data.Layouts.Columns;
import io.github.align4j.data.Layouts.Parsed;
import java.util.List;
import java.util.Map;

/**
 * The plain-text pair layouts of {@link Layouts}: {@code standard} (prompt, chosen, rejected
 * strings) and {@code implicit_prompt} (two whole transcripts whose shared start is the prompt).
 */
final class PairLayouts {
    private PairLayouts() {}

    /** {@code prompt}, {@code chosen}, {@code rejected} strings. */
    static Parsed standard(JsonNode row, Columns cols, Map<String, String> meta) throws BadRow {
        String p = text(row, "prompt", cols);
        String c = text(row, "chosen", cols);
        String r = text(row, "rejected", cols);
        return new Parsed(p, c, r, null, false, meta, "prompt", "chosen", "rejected");
    }

    /** {@code chosen} and {@code rejected} transcripts; the prompt is their shared start, see {@link #extractPrompt}. */
    static Parsed implicit(JsonNode row, Columns cols, Map<String, String> meta) throws BadRow {
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
}
