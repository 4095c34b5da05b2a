package io.github.align4j.data;

import static io.github.align4j.data.FileFormatsTest.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.model.TextTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A {@link PreferenceData} keeps working after its caller closed the tokenizer it was loaded with. */
class ClosedTokenizerTest {
    @TempDir
    Path dir;

    @Test
    void everyUseAfterTheTokenizerIsClosedGivesWhatAnOpenOneGives() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 12; i++) { // long completions: the pairs are truncated, so toUnpaired re-tokenizes
            sb.append("{\"prompt\":\"Question ").append(i).append("\",\"chosen\":\"").append(" good".repeat(5 + i))
                    .append("\",\"rejected\":\"").append(" bad".repeat(3 + 2 * i)).append("\"}\n");
        }
        String file = write(dir.resolve("d.jsonl"), sb.toString()).toString();
        DataOptions o = DataOptions.defaults().withCacheDir(dir.resolve("cache")).withMaxLength(14);
        Path tokDir = Fixtures.shared().resolve("data/tokenizers/gpt2");

        PreferenceData open;
        List<TokenizedUnpaired> wantUnpaired;
        String wantInspect;
        try (TextTokenizer tok = TextTokenizer.load(tokDir, null)) {
            open = PreferenceData.load(file, o, tok);
            wantUnpaired = open.toUnpaired(3).unpaired();
            wantInspect = Inspect.text(open, 3, true);
        }
        assertTrue(open.stats().toString().length() > 0);

        PreferenceData data;
        TextTokenizer tok = TextTokenizer.load(tokDir, null);
        try {
            data = PreferenceData.load(file, o.withCacheDir(dir.resolve("cache2")), tok);
        } finally {
            tok.close();
        }
        assertTrue(tok.isClosed());
        assertEquals(12, data.size());
        assertTrue(data.stats().toString().contains("trunc") || data.texts().stream().anyMatch(RenderedExample::truncated),
                "the test needs truncated pairs");
        List<TokenizedUnpaired> got = data.toUnpaired(3).unpaired(); // re-tokenizes with the closed tokenizer's folder
        assertEquals(wantUnpaired.size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            assertArrayEquals(wantUnpaired.get(i).prompt(), got.get(i).prompt(), "example " + i);
            assertArrayEquals(wantUnpaired.get(i).completion(), got.get(i).completion(), "example " + i);
        }
        assertEquals(wantInspect, Inspect.text(data, 3, true));
        PreferenceData[] split = data.split(0.25, 1);
        assertEquals(12, split[0].size() + split[1].size());
        assertEquals(split[0].size() * 2, split[0].toUnpaired(1).size());
    }
}
