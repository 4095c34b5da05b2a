package io.github.align4j.data;

import java.util.Arrays;

/**
 * TRL DPOTrainer's truncation for decoder-only models. When prompt + longest completion exceeds
 * {@code maxLength}, the prompt is cut from the left to {@code maxPromptLength}, then every
 * completion is cut from the right to {@code maxLength - prompt length}. A prompt that alone
 * still reaches {@code maxLength} leaves no room for a completion: the row is dropped. Limits of
 * 0 or less mean no limit.
 */
final class Truncation {
    private Truncation() {}

    /** The result; null fields never: {@code completions} parallel to the input. */
    record Result(int[] prompt, int[][] completions, int promptCut, int[] completionCuts) {}

    /**
     * @param prompt prompt ids
     * @param completions completion ids, EOS already appended
     * @return the cut ids, or null when the prompt alone reaches {@code maxLength}
     */
    static Result apply(int[] prompt, int[][] completions, int maxLength, int maxPromptLength) {
        int longest = 0;
        for (int[] c : completions) {
            longest = Math.max(longest, c.length);
        }
        int[] cuts = new int[completions.length];
        if (maxLength <= 0 || prompt.length + longest <= maxLength) {
            return new Result(prompt, completions, 0, cuts);
        }
        int promptCut = 0;
        int[] p = prompt;
        if (maxPromptLength > 0 && p.length > maxPromptLength) {
            promptCut = p.length - maxPromptLength;
            p = Arrays.copyOfRange(p, promptCut, p.length);
        }
        if (p.length >= maxLength) {
            return null;
        }
        int room = maxLength - p.length;
        int[][] out = new int[completions.length][];
        for (int i = 0; i < completions.length; i++) {
            int[] c = completions[i];
            if (c.length > room) {
                cuts[i] = c.length - room;
                out[i] = Arrays.copyOf(c, room);
            } else {
                out[i] = c;
            }
        }
        return new Result(p, out, promptCut, cuts);
    }
}
