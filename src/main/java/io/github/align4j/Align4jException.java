package io.github.align4j;

/**
 * An error the user can cause and fix: a bad row, a missing file, a wrong config key, an
 * unsupported model type. The message names the file, line or key and says how to fix it; the
 * command line prints it alone, without a stack trace.
 */
public class Align4jException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public Align4jException(String message) {
        super(message);
    }

    public Align4jException(String message, Throwable cause) {
        super(message, cause);
    }
}
