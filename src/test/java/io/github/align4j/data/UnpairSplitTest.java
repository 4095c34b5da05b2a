package io.github.align4j.data;

import static io.github.align4j.data.FileFormatsTest.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Pairs to KTO examples with mixed labels; seeded held-out splits. */
class UnpairSplitTest {
    private static final int N = 40;

    @TempDir
    Path dir;

    private PreferenceData pairs;

    @BeforeEach
    void load() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < N; i++) {
            sb.append("{\"prompt\":\"Question ").append(i).append("\",\"chosen\":\" good ").append(i)
                    .append("\",\"rejected\":\" bad ").append(i).append("\"}\n");
        }
        pairs = PreferenceData.load(write(dir.resolve("d.jsonl"), sb.toString()).toString(),
                DataOptions.defaults().withCacheDir(dir.resolve("cache")), Fixtures.gpt2());
    }

    @Test
    void toUnpairedGivesOneOfEachLabelPerPairMixed() {
        PreferenceData u = pairs.toUnpaired(7);
        assertFalse(u.paired());
        assertEquals(2 * N, u.size());
        List<TokenizedUnpaired> ex = u.unpaired();
        assertEquals(N, ex.stream().filter(TokenizedUnpaired::desirable).count());
        for (int i = 0; i < ex.size(); i += 2) { // every micro-batch of 2 (and so of any even size) mixes labels
            assertNotEquals(ex.get(i).desirable(), ex.get(i + 1).desirable(), "examples " + i + ", " + (i + 1));
        }
        // each example is its pair's prompt + chosen (desirable) or + rejected, ids and text alike
        for (int i = 0; i < ex.size(); i++) {
            TokenizedUnpaired x = ex.get(i);
            TokenizedPair p = pairs.pairs().get((int) x.row());
            assertArrayEquals(p.prompt(), x.prompt());
            assertArrayEquals(x.desirable() ? p.chosen() : p.rejected(), x.completion());
            RenderedExample t = u.texts().get(i);
            assertEquals((x.desirable() ? " good " : " bad ") + x.row(), t.completion());
            assertEquals(x.desirable(), t.desirable());
        }
        // shuffled: not in row order, and rows of one pair are not kept together
        List<Long> rows = ex.stream().map(TokenizedUnpaired::row).toList();
        assertNotEquals(rows.stream().sorted().toList(), rows);
        long adjacentSameRow = 0;
        for (int i = 0; i < rows.size(); i += 2) {
            adjacentSameRow += rows.get(i).equals(rows.get(i + 1)) ? 1 : 0;
        }
        assertTrue(adjacentSameRow < N / 4, "pairs are split apart: " + adjacentSameRow);
        // seeded
        assertEquals(rows, pairs.toUnpaired(7).unpaired().stream().map(TokenizedUnpaired::row).toList());
        assertNotEquals(rows, pairs.toUnpaired(8).unpaired().stream().map(TokenizedUnpaired::row).toList());
        assertNotEquals(pairs.fingerprint(), u.fingerprint());
        assertEquals(u.fingerprint(), pairs.toUnpaired(7).fingerprint());
        assertEquals(2 * N, u.stats().kept());
        assertTrue(u.toUnpaired(1) == u, "unpaired data stays as it is");
    }

    @Test
    void toUnpairedTruncatesEachExampleOnItsOwn() throws IOException {
        // GPT-2: prompt 10 tokens; chosen " b" = 2 with EOS; rejected " c c c c c c" = 7 with EOS.
        // As a pair with max_length 12 / max_prompt_length 4: prompt cut to 4. Alone, prompt + chosen = 12 fits.
        Path f = write(dir.resolve("t.jsonl"),
                "{\"prompt\":\"a a a a a a a a a a\",\"chosen\":\" b\",\"rejected\":\" c c c c c c\"}\n");
        PreferenceData p = PreferenceData.load(f.toString(), DataOptions.defaults().withMaxLength(12)
                .withMaxPromptLength(4).withCacheDir(dir.resolve("cache")), Fixtures.gpt2());
        assertEquals(4, p.pairs().get(0).prompt().length);
        PreferenceData u = p.toUnpaired(1);
        for (int i = 0; i < 2; i++) {
            TokenizedUnpaired x = u.unpaired().get(i);
            RenderedExample t = u.texts().get(i);
            if (x.desirable()) {
                assertEquals(10, x.prompt().length);
                assertEquals(0, t.promptCut());
            } else {
                assertEquals(4, x.prompt().length);
                assertEquals(6, t.promptCut());
                assertEquals(7, x.completion().length);
            }
        }
        assertEquals(1, u.stats().truncated());
    }

    @Test
    void splitIsSeededDisjointAndByRow() {
        PreferenceData[] s = pairs.split(0.25, 42);
        assertEquals(30, s[0].size());
        assertEquals(10, s[1].size());
        Set<Long> train = rows(s[0]);
        Set<Long> eval = rows(s[1]);
        assertTrue(java.util.Collections.disjoint(train, eval));
        Set<Long> all = new HashSet<>(train);
        all.addAll(eval);
        assertEquals(N, all.size());
        // original order kept within each part
        List<Long> evalRows = s[1].pairs().stream().map(TokenizedPair::row).toList();
        assertEquals(evalRows.stream().sorted().toList(), evalRows);
        // seeded
        assertEquals(eval, rows(pairs.split(0.25, 42)[1]));
        assertNotEquals(eval, rows(pairs.split(0.25, 43)[1]));
        assertEquals(s[1].fingerprint(), pairs.split(0.25, 42)[1].fingerprint());
        assertNotEquals(s[0].fingerprint(), s[1].fingerprint());
        assertEquals(10, s[1].stats().kept());
        // at least one row each way
        assertEquals(1, pairs.split(0.001, 1)[1].size());
        assertEquals(N - 1, pairs.split(0.999, 1)[1].size());
        assertThrows(Align4jException.class, () -> pairs.split(0, 1));
        assertThrows(Align4jException.class, () -> pairs.split(1, 1));
    }

    @Test
    void splittingUnpairedKeepsBothHalvesOfAPairTogether() {
        PreferenceData[] s = pairs.toUnpaired(3).split(0.5, 9);
        assertEquals(N, s[0].size());
        assertEquals(N, s[1].size());
        assertTrue(java.util.Collections.disjoint(rows(s[0]), rows(s[1])));
        assertEquals(N / 2, rows(s[1]).size());
    }

    private static Set<Long> rows(PreferenceData d) {
        List<Long> out = new ArrayList<>();
        for (RenderedExample t : d.texts()) {
            out.add(t.row());
        }
        return new HashSet<>(out);
    }
}
