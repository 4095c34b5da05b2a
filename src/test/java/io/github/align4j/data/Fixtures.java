package io.github.align4j.data;

import static org.junit.jupiter.api.Assertions.fail;

import io.github.align4j.model.TextTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;

/** Shared test material: the read-only /work/shared folder and the tokenizers in it. */
final class Fixtures {
    private static TextTokenizer phi3;
    private static TextTokenizer gpt2;

    private Fixtures() {}

    /** {@code ../shared} next to the project, or {@code $ALIGN4J_SHARED}; fails loudly when neither exists. */
    static Path shared() {
        String env = System.getenv("ALIGN4J_SHARED");
        if (env != null && !env.isBlank() && Files.isDirectory(Path.of(env, "data"))) {
            return Path.of(env);
        }
        Path sibling = Path.of("").toAbsolutePath().getParent().resolve("shared");
        if (Files.isDirectory(sibling.resolve("data"))) {
            return sibling;
        }
        fail("The shared test data is missing: expected " + sibling + "/data or $ALIGN4J_SHARED/data");
        return null;
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
