package io.github.align4j.data.template;

/**
 * Stops a jinjava render (or parse) at the first fatal error and carries the message out to
 * {@link io.github.align4j.data.ChatTemplate}, which turns it into an {@code Align4jException}.
 *
 * <p>It is an {@link Error} on purpose: jinjava catches {@code Exception} in its tag and expression
 * nodes, records it and carries on rendering, while jinja2 stops at the first error (in particular
 * at {@code raise_exception}). jinjava never catches {@code Error}, so throwing one from {@link
 * ChatTemplateInterpreter#addError} unwinds the whole render. It never leaves this package.
 */
final class ChatTemplateFailure extends Error {
    private static final long serialVersionUID = 1L;

    /** True for a limit of {@link TemplateLimits}: the message needs no line number. */
    final boolean limit;

    ChatTemplateFailure(String message) {
        this(message, false);
    }

    private ChatTemplateFailure(String message, boolean limit) {
        super(message, null, false, false);
        this.limit = limit;
    }

    static ChatTemplateFailure limit(String message) {
        return new ChatTemplateFailure(message, true);
    }
}
