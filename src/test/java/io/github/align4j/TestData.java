package io.github.align4j;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds the real test data (tokenizers, datasets, chat templates) that the repository carries in
 * {@code src/test/resources/data} (origins and licenses in its {@code SOURCES.md}). The only place
 * tests locate those files: a bare clone needs nothing beside it. Tests fail, never skip, when a
 * file is missing.
 */
public final class TestData {
    private static final String MARKER = "/data/SOURCES.md";

    private TestData() {
    }

    /**
     * The folder that holds {@code data/} (the test class path's root, {@code target/test-classes}
     * under Maven), so that {@code shared().resolve("data/tokenizers/gpt2")} names a tokenizer.
     *
     * @throws IllegalStateException when the test resources are not on the class path
     */
    public static Path shared() {
        URL marker = TestData.class.getResource(MARKER);
        if (marker == null || !"file".equals(marker.getProtocol())) {
            throw new IllegalStateException("The test data " + MARKER + " is not on the test class path as a file ("
                    + marker + "): run the tests through Maven, which copies src/test/resources/data there.");
        }
        try {
            return Path.of(marker.toURI()).getParent().getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException("cannot turn " + marker + " into a path", e);
        }
    }

    /** A path inside the test data root, e.g. {@code "data/preference/llamafactory_dpo_en_demo.json"}; must exist. */
    public static Path shared(String relative) {
        Path p = shared().resolve(relative);
        if (!Files.exists(p)) {
            throw new IllegalStateException(p + " does not exist: src/test/resources lacks " + relative
                    + " (see src/test/resources/data/SOURCES.md)");
        }
        return p;
    }
}
