package io.github.align4j.data.template;

/**
 * An error the template itself raised, the way Python would raise it while jinja2 renders: either
 * the template's own {@code raise_exception(msg)} or a Python-level error such as calling {@code
 * str.split('')}. Thrown from inside jinjava (functions, filters, the EL resolver); {@link
 * ChatTemplateInterpreter} finds it in the cause chain of the error jinjava records and stops the
 * render with its message.
 */
final class PyError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** True for the template's own raise_exception(...): its message is reported verbatim. */
    private final boolean raised;

    PyError(String message, boolean raised) {
        super(message, null, false, false);
        this.raised = raised;
    }

    PyError(String message) {
        this(message, false);
    }

    boolean raised() {
        return raised;
    }
}
