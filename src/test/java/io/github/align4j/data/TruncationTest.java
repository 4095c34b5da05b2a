package io.github.align4j.data;

import static io.github.align4j.data.FileFormatsTest.box;
import static io.github.align4j.data.FileFormatsTest.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TRL's truncation, on hand-computed lengths. */
class TruncationTest {
    @TempDir
    Path dir;

    private static int[] seq(int from, int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = from + i;
        }
        return a;
    }

    @Test
    void nothingCutWhenItFits() {
        int[] p = seq(0, 6);
        int[][] c = {seq(100, 3), seq(200, 4)};
        Truncation.Result r = Truncation.apply(p, c, 10, 2);
        assertArrayEquals(p, r.prompt());
        assertArrayEquals(c[1], r.completions()[1]);
        assertEquals(0, r.promptCut());
        assertArrayEquals(new int[] {0, 0}, r.completionCuts());
    }

    @Test
    void promptCutFromTheLeftThenCompletionsFromTheRight() {
        // 6 + 7 = 13 > 10: prompt 6 -> 4 (keep the end), then room 10 - 4 = 6: 7 -> 6, 3 stays
        Truncation.Result r = Truncation.apply(seq(0, 6), new int[][] {seq(100, 3), seq(200, 7)}, 10, 4);
        assertArrayEquals(new int[] {2, 3, 4, 5}, r.prompt());
        assertArrayEquals(seq(100, 3), r.completions()[0]);
        assertArrayEquals(seq(200, 6), r.completions()[1]);
        assertEquals(2, r.promptCut());
        assertArrayEquals(new int[] {0, 1}, r.completionCuts());
        // a prompt already within max_prompt_length is kept whole; completions take the cut
        r = Truncation.apply(seq(0, 3), new int[][] {seq(100, 9)}, 10, 4);
        assertArrayEquals(seq(0, 3), r.prompt());
        assertArrayEquals(seq(100, 7), r.completions()[0]);
        assertArrayEquals(new int[] {2}, r.completionCuts());
    }

    @Test
    void promptThatReachesMaxLengthIsDropped() {
        assertNull(Truncation.apply(seq(0, 10), new int[][] {seq(100, 2)}, 10, 0)); // no prompt limit
        assertNull(Truncation.apply(seq(0, 12), new int[][] {seq(100, 2)}, 10, 10));
        Truncation.Result r = Truncation.apply(seq(0, 9), new int[][] {seq(100, 2)}, 10, 0);
        assertArrayEquals(new int[] {100}, r.completions()[0]);
    }

    @Test
    void unlimitedWhenZeroOrLess() {
        Truncation.Result r = Truncation.apply(seq(0, 5000), new int[][] {seq(0, 3000)}, 0, 512);
        assertEquals(5000, r.prompt().length);
        assertEquals(3000, r.completions()[0].length);
    }

    @Test
    void endToEndWithGpt2Tokens() throws IOException {
        // GPT-2: "a a a a a a a a a a" is 10 tokens (a, then 9 x " a"); " b b b" 3; " c c c c c c" 6; EOS 50256
        Path f = write(dir.resolve("t.jsonl"),
                "{\"prompt\":\"a a a a a a a a a a\",\"chosen\":\" b b b\",\"rejected\":\" c c c c c c\"}\n"
                + "{\"prompt\":\"a a a a a a a a a a a a\",\"chosen\":\" b\",\"rejected\":\" c\"}\n"
                + "{\"prompt\":\"a\",\"chosen\":\"\",\"rejected\":\" c\"}\n");
        assertEquals(10, Fixtures.gpt2().encode("a a a a a a a a a a").length);
        DataOptions o = DataOptions.defaults().withCacheDir(dir.resolve("cache"));

        // max_length 8, max_prompt_length 4: row 0: 10 + 7 > 8 -> prompt 4, room 4: chosen 4 (EOS kept), rejected 7 -> 4
        // row 1: 12 + 2 > 8 -> prompt 4, both completions fit; row 2: empty completion
        PreferenceData d = PreferenceData.load(f.toString(), o.withMaxLength(8).withMaxPromptLength(4), Fixtures.gpt2());
        assertEquals(2, d.size());
        TokenizedPair p = d.pairs().get(0);
        assertEquals(List.of(257, 257, 257, 257), box(p.prompt()));
        assertEquals(List.of(275, 275, 275, 50256), box(p.chosen()));
        assertEquals(List.of(269, 269, 269, 269), box(p.rejected()));
        RenderedExample t = d.texts().get(0);
        assertEquals(6, t.promptCut());
        assertEquals(0, t.chosenCut());
        assertEquals(3, t.rejectedCut());
        assertEquals(" c c c c c c", t.rejected(), "texts are the rendered strings, before truncation");
        assertEquals(List.of(257, 257, 257, 257), box(d.pairs().get(1).prompt()));
        assertEquals(8, d.texts().get(1).promptCut());
        assertEquals(List.of(275, 50256), box(d.pairs().get(1).chosen()));
        assertEquals(Map.of("empty_completion", 1L), d.stats().dropped());
        assertEquals(2, d.stats().truncated());

        // no max_prompt_length and max_length 11: row 0's prompt of 10 leaves one token; row 1's 12 is dropped
        d = PreferenceData.load(f.toString(), o.withMaxLength(11).withMaxPromptLength(0), Fixtures.gpt2());
        assertEquals(1, d.size());
        assertEquals(List.of(275), box(d.pairs().get(0).chosen()));
        assertEquals(List.of(269), box(d.pairs().get(0).rejected()));
        assertEquals(Map.of("empty_completion", 1L, "prompt_too_long", 1L), d.stats().dropped());

        // defaults (1024/512): nothing cut
        d = PreferenceData.load(f.toString(), o, Fixtures.gpt2());
        assertEquals(10, d.pairs().get(0).prompt().length);
        assertEquals(7, d.pairs().get(0).rejected().length);
        assertEquals(0, d.stats().truncated());
    }
}
