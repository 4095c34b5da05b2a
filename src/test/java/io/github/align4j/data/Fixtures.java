package io.github.align4j.data;

import io.github.align4j.model.TextTokenizer;
import java.nio.file.Path;

/** Test material: the real datasets and tokenizers in src/test/resources/data. */
final class Fixtures {
    private static TextTokenizer phi3;
    private static TextTokenizer gpt2;

    private Fixtures() {}

    /** The test data root (src/test/resources, see {@link io.github.align4j.TestData}). */
    static Path shared() {
        return io.github.align4j.TestData.shared();
    }

    static Path preference(String file) {
        return shared().resolve("data/preference").resolve(file);
    }

    /** Llama-2 vocabulary with the Phi-3 chat template; EOS is {@code <|endoftext|>} (32000). */
    static synchronized TextTokenizer phi3() {
        if (phi3 == null) {
            phi3 = TextTokenizer.load(shared().resolve("data/tokenizers/phi-3-mini"), null);
        }
        return phi3;
    }

    /** GPT-2: no chat template; EOS {@code <|endoftext|>} (50256). */
    static synchronized TextTokenizer gpt2() {
        if (gpt2 == null) {
            gpt2 = TextTokenizer.load(shared().resolve("data/tokenizers/gpt2"), null);
        }
        return gpt2;
    }
}
