package io.github.align4j.train;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Batches of (prompt, completion) requests arranged so that the scorer can run a prompt once for two of its
 * completions: two requests with the same prompt go to positions i and i + ⌊n/2⌋ of their batch, as
 * {@code SequenceScorer} pairs them. Units (a pair, or a prompt's odd request) are taken shortest first, so
 * that a batch's rows have similar lengths, and fill batches of at most {@code size} sequences.
 */
final class PromptPairs {
    private PromptPairs() {}

    private record Prompt(int[] ids) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Prompt p && Arrays.equals(ids, p.ids);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(ids);
        }
    }

    /**
     * @param work {prompt, completion} requests
     * @param size the most sequences in a batch (at least 1)
     * @return the batches, each a list of {prompt, completion} in the order to score them
     */
    static List<List<int[][]>> batches(List<int[][]> work, int size) {
        Map<Prompt, List<int[][]>> byPrompt = new LinkedHashMap<>();
        for (int[][] w : work) {
            byPrompt.computeIfAbsent(new Prompt(w[0]), k -> new ArrayList<>()).add(w);
        }
        List<List<int[][]>> units = new ArrayList<>();
        for (List<int[][]> same : byPrompt.values()) {
            for (int i = 0; i < same.size(); i += 2) {
                units.add(same.subList(i, Math.min(same.size(), i + 2)));
            }
        }
        units.sort(Comparator.comparingInt(PromptPairs::longest));
        List<List<int[][]>> batches = new ArrayList<>();
        List<List<int[][]>> open = new ArrayList<>();
        int count = 0;
        for (List<int[][]> u : units) {
            if (count + u.size() > size && count > 0) {
                batches.add(arrange(open, count));
                open = new ArrayList<>();
                count = 0;
            }
            if (u.size() > size) { // a batch of one sequence: the pair's two go alone
                for (int[][] w : u) {
                    batches.add(List.<int[][]>of(w));
                }
                continue;
            }
            open.add(u);
            count += u.size();
        }
        if (count > 0) {
            batches.add(arrange(open, count));
        }
        return batches;
    }

    private static int longest(List<int[][]> unit) {
        int m = 0;
        for (int[][] w : unit) {
            m = Math.max(m, w[0].length + w[1].length);
        }
        return m;
    }

    /** Pairs at i and i + ⌊n/2⌋, the single requests in the places left. */
    private static List<int[][]> arrange(List<List<int[][]>> units, int n) {
        int[][][] slots = new int[n][][];
        int half = n / 2;
        int pair = 0;
        List<int[][]> singles = new ArrayList<>();
        for (List<int[][]> u : units) {
            if (u.size() == 2) {
                slots[pair] = u.get(0);
                slots[half + pair] = u.get(1);
                pair++;
            } else {
                singles.add(u.get(0));
            }
        }
        int next = 0;
        for (int i = 0; i < n; i++) {
            if (slots[i] == null) {
                slots[i] = singles.get(next++);
            }
        }
        return Arrays.asList(slots);
    }
}
