package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The reference pass's batches: every request once, at most the batch size, a prompt's two completions at i and i + ⌊n/2⌋. */
class PromptPairsTest {
    @Test
    void twoCompletionsOfAPromptSitHalfABatchApart() {
        List<int[][]> work = new ArrayList<>();
        for (int p = 0; p < 7; p++) {
            int[] prompt = {100 + p, 1, 2};
            work.add(new int[][] {prompt.clone(), {p, 10}});
            work.add(new int[][] {prompt.clone(), {p, 11, 12}});
            if (p % 3 == 0) {
                work.add(new int[][] {prompt.clone(), {p, 13, 14, 15, 16}}); // a third completion: a single
            }
        }
        work.add(new int[][] {{7}, {8}}); // a prompt of its own
        List<List<int[][]>> batches = PromptPairs.batches(work, 6);
        Set<String> seen = new HashSet<>();
        int pairs = 0;
        for (List<int[][]> b : batches) {
            assertTrue(b.size() <= 6 && !b.isEmpty(), "size " + b.size());
            int half = b.size() / 2;
            for (int i = 0; i < b.size(); i++) {
                assertTrue(seen.add(java.util.Arrays.toString(b.get(i)[0]) + java.util.Arrays.toString(b.get(i)[1])));
            }
            for (int i = 0; i < half; i++) {
                if (java.util.Arrays.equals(b.get(i)[0], b.get(half + i)[0])) {
                    pairs++;
                }
            }
        }
        assertEquals(work.size(), seen.size(), "every request once");
        assertEquals(7, pairs, "each prompt's first two completions paired");
        // shortest units first: the first batch holds the shortest request
        assertArrayEquals(new int[] {8}, batches.get(0).stream().filter(w -> w[0].length == 1).findFirst().orElseThrow()[1]);
    }

    @Test
    void aBatchOfOneTakesEveryRequestAlone() {
        List<int[][]> work = List.of(new int[][] {{1}, {2}}, new int[][] {{1}, {3}});
        List<List<int[][]>> batches = PromptPairs.batches(new ArrayList<>(work), 1);
        assertEquals(2, batches.size());
        assertEquals(1, batches.get(0).size());
    }
}
