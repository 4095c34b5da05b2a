package io.github.align4j.data;

import java.util.Map;

/**
 * One example as text: exactly the strings that were tokenized (after the chat template and
 * prompt extraction, before tokenization, so without the appended EOS and before truncation).
 *
 * @param row 0-based index of the source row among all rows of the dataset
 * @param prompt the prompt text (ends with the template's generation prompt for chat rows)
 * @param chosen the chosen completion, or for unpaired examples the completion
 * @param rejected the rejected completion; null for unpaired examples
 * @param desirable the label of an unpaired example; null for pairs
 * @param promptCut prompt tokens cut from the left
 * @param chosenCut tokens cut from the right of chosen (or the completion), EOS included
 * @param rejectedCut tokens cut from the right of rejected
 * @param metadata other scalar columns of the row (e.g. {@code score_chosen}), as text
 */
public record RenderedExample(long row, String prompt, String chosen, String rejected, Boolean desirable,
        int promptCut, int chosenCut, int rejectedCut, Map<String, String> metadata) {

    /** The completion of an unpaired example (same as {@link #chosen()}). */
    public String completion() {
        return chosen;
    }

    /** True when truncation cut any token of this example. */
    public boolean truncated() {
        return promptCut > 0 || chosenCut > 0 || rejectedCut > 0;
    }
}
