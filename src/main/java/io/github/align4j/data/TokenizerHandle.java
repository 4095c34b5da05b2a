package io.github.align4j.data;

import io.github.align4j.model.TextTokenizer;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * The tokenizer a {@link PreferenceData} was loaded with, without depending on the caller keeping
 * it open: while the caller's tokenizer is open it is used; once the caller has closed it, the
 * same folder is loaded again for the one call that needs it and closed after.
 */
final class TokenizerHandle {
    private final TextTokenizer given;
    private final Path dir;
    private final Integer eosId;

    TokenizerHandle(TextTokenizer given) {
        this.given = given;
        this.dir = given.dir();
        this.eosId = given.eosId();
    }

    /** The EOS id (known without the native tokenizer). */
    Integer eosId() {
        return eosId;
    }

    /** {@code f} applied to an open tokenizer of the same folder. */
    <T> T apply(Function<TextTokenizer, T> f) {
        if (!given.isClosed()) {
            return f.apply(given);
        }
        try (TextTokenizer t = TextTokenizer.load(dir, eosId)) {
            return f.apply(t);
        }
    }
}
