package io.github.align4j;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds the read-only {@code shared/} folder (real tokenizers, datasets) that CI places beside the
 * project root. Tests that need it fail with a clear message when it is missing: they never skip.
 */
public final class TestData {
    /** Environment variable that names the shared folder when it is not at {@code ../shared}. */
    public static final String ENV = "ALIGN4J_SHARED";

    private TestData() {
    }

    /**
     * The shared folder: {@code ../shared} relative to the working directory (the project root under
     * Maven), else the folder named by {@code ALIGN4J_SHARED}.
     *
     * @throws IllegalStateException when neither exists
     */
    public static Path shared() {
        Path root = Path.of("").toAbsolutePath();
        Path beside = root.getParent() == null ? null : root.getParent().resolve("shared");
        if (beside != null && Files.isDirectory(beside)) {
            return beside;
        }
        String env = System.getenv(ENV);
        if (env != null && !env.isBlank()) {
            Path p = Path.of(env).toAbsolutePath();
            if (Files.isDirectory(p)) {
                return p;
            }
            throw new IllegalStateException(ENV + "=" + env + " is not a folder. It must name the shared/ "
                    + "folder (data/, notes/, bench/) that belongs beside the project root.");
        }
        throw new IllegalStateException("The shared/ test data folder was not found: looked at " + beside
                + " (../shared from the project root) and the environment variable " + ENV
                + " is not set. Put shared/ beside the project or set " + ENV + "=/path/to/shared.");
    }

    /** A path inside the shared folder, which must exist. */
    public static Path shared(String relative) {
        Path p = shared().resolve(relative);
        if (!Files.exists(p)) {
            throw new IllegalStateException(p + " does not exist: the shared/ folder at " + shared()
                    + " lacks " + relative);
        }
        return p;
    }
}
