package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.internal.TinyTokenizer;
import io.github.align4j.model.TextTokenizer;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TinyTokenizerTest {
    @TempDir
    Path tmp;

    static String corpus() throws Exception {
        try (InputStream in = TinyTokenizerTest.class.getResourceAsStream("/io/github/align4j/tiny/corpus.txt")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** The shipped files are exactly what TinyTokenizerBuilder makes from corpus.txt. */
    @Test
    void shippedFilesAreReproducible() throws Exception {
        Map<String, byte[]> built = TinyTokenizerBuilder.build(corpus());
        assertEquals(TinyTokenizer.FILES, java.util.List.copyOf(built.keySet()));
        Path dir = TinyTokenizer.writeTo(tmp.resolve("tok"));
        for (Map.Entry<String, byte[]> f : built.entrySet()) {
            byte[] shipped = Files.readAllBytes(dir.resolve(f.getKey()));
            assertArrayEquals(f.getValue(), shipped, f.getKey() + " differs from TinyTokenizerBuilder's output; rerun it");
            assertTrue(shipped.length < 200_000, f.getKey() + " is " + shipped.length + " bytes");
        }
    }

    /** DJL's Rust tokenizer loads it; any text round-trips; special tokens are single ids. */
    @Test
    void loadsEncodesAndDecodes() throws Exception {
        Path dir = TinyTokenizer.writeTo(tmp.resolve("tok"));
        try (TextTokenizer tok = TextTokenizer.load(dir, null)) {
            assertEquals(791, tok.eosId());
            assertEquals(791, tok.padId());
            assertEquals(null, tok.bosId());
            assertEquals(792, tok.tokenId("<|im_start|>"));
            assertEquals(793, tok.tokenId("<|im_end|>"));
            assertTrue(tok.chatTemplate().contains("<|im_start|>"));
            String corpus = corpus();
            int[] ids = tok.encode(corpus);
            assertEquals(corpus, tok.decode(ids, false));
            double bytesPerToken = corpus.getBytes(StandardCharsets.UTF_8).length / (double) ids.length;
            assertTrue(bytesPerToken > 2.5, "merges compress the English it was learned from: " + bytesPerToken);
            for (int id : ids) {
                assertTrue(id >= 0 && id < 791, "only byte and merge tokens in plain text");
            }
            String other = "Grüße aus 東京 🌊\ttabs, CAPS and 3.14159";
            assertEquals(other, tok.decode(tok.encode(other), false), "bytes cover any text");
            assertArrayEquals(new int[] {792}, tok.encode("<|im_start|>"));
            assertEquals(" the", tok.decode(tok.encode(" the"), false));
            assertEquals(1, tok.encode(" the").length);
        }
    }
}
