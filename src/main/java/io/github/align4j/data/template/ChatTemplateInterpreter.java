package io.github.align4j.data.template;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.TemplateError;

/**
 * jinjava's interpreter with two jinja2 behaviours: the first fatal error stops the render (jinjava
 * records errors and renders on; jinja2 raises), and values print as Python's {@code str()} does
 * ({@code True}, not {@code true}). It also carries the {@link Budget} of one render: the
 * {@link TemplateLimits} and what has been spent of them.
 */
final class ChatTemplateInterpreter extends JinjavaInterpreter {
    /** What a render outside any interpreter (there is none) is held to. */
    private static final Budget NO_RENDER = new Budget(TemplateLimits.defaults(), "chat template");

    private final Budget budget;

    ChatTemplateInterpreter(Jinjava jinjava, Context context, JinjavaConfig config, Budget budget) {
        super(jinjava, context, config);
        this.budget = budget;
    }

    ChatTemplateInterpreter(JinjavaInterpreter parent) {
        super(parent);
        this.budget = parent instanceof ChatTemplateInterpreter p ? p.budget : NO_RENDER;
    }

    /** The budget of the render on this thread. */
    static Budget budget() {
        JinjavaInterpreter current = JinjavaInterpreter.getCurrent();
        return current instanceof ChatTemplateInterpreter c ? c.budget : NO_RENDER;
    }

    /** A {@code for} loop takes its next item: counted against the loop limit and the deadline. */
    @Override
    public Object wrap(Object object) {
        budget.countIteration();
        return super.wrap(object);
    }

    @Override
    public Object resolveELExpression(String expression, int lineNumber, int position) {
        budget.checkTime();
        return super.resolveELExpression(expression, lineNumber, position);
    }

    @Override
    public Object resolveELExpression(String expression, int lineNumber) {
        budget.checkTime();
        return super.resolveELExpression(expression, lineNumber);
    }

    /**
     * The limits of one render and what it has spent. Every check that fails throws a {@link
     * ChatTemplateFailure} (which jinjava cannot catch) naming the limit and how to change it.
     */
    static final class Budget {
        final TemplateLimits limits;
        private final String source;
        private final long start = System.nanoTime();
        private long iterations;

        Budget(TemplateLimits limits, String source) {
            this.limits = limits;
            this.source = source;
        }

        void checkTime() {
            long elapsed = System.nanoTime() - start;
            if (elapsed > limits.maxRenderTime().toNanos()) {
                throw exceeded("render time", "ran " + elapsed / 1_000_000 + " ms",
                        limits.maxRenderTime().toMillis() + " ms", "withMaxRenderTime");
            }
        }

        void countIteration() {
            if (++iterations > limits.maxLoopIterations()) {
                throw exceeded("loop iterations", "more than " + limits.maxLoopIterations()
                        + " for-loop iterations in one render", String.valueOf(limits.maxLoopIterations()),
                        "withMaxLoopIterations");
            }
            if ((iterations & 0xff) == 0) {
                checkTime();
            }
        }

        /** Refuses a string of {@code chars} characters before it is built. */
        void checkString(long chars, String what) {
            if (chars > limits.maxStringChars() || chars < 0) {
                throw exceeded("string size", what + " would make a string of " + (chars < 0 ? "over 2^63" : chars)
                        + " characters", limits.maxStringChars() + " characters", "withMaxStringChars");
            }
        }

        /** Refuses a numeric argument (a width, a count) that would build more than a string may hold. */
        void checkSizeArgument(Object value, String what) {
            if (value instanceof String text && text.strip().matches("[-+]?[0-9]+(\\.[0-9]*)?([eE][-+]?[0-9]+)?")) {
                try {
                    value = Double.parseDouble(text.strip()); // old-style filters take their arguments as text
                } catch (NumberFormatException e) {
                    return;
                }
            }
            if (value instanceof Number n && !(Math.abs(n.doubleValue()) <= limits.maxStringChars())) {
                throw exceeded("string size", what + " " + PyObjects.str(value) + " is past the largest string",
                        limits.maxStringChars() + " characters", "withMaxStringChars");
            }
        }

        ChatTemplateFailure exceeded(String limit, String detail, String value, String wither) {
            return ChatTemplateFailure.limit(limit + " exceeded (" + detail + "); the limit is " + value
                    + ", change it with TemplateLimits." + wither + " (ChatTemplate.of(..., limits))");
        }
    }

    /** Makes jinjava create this interpreter for nested scopes (macros, includes) too. */
    static final class Factory implements InterpreterFactory {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter parent) {
            return new ChatTemplateInterpreter(parent);
        }

        @Override
        public JinjavaInterpreter newInstance(Jinjava jinjava, Context context, JinjavaConfig config) {
            return new ChatTemplateInterpreter(jinjava, context, config, new Budget(TemplateLimits.defaults(), "chat template"));
        }
    }

    @Override
    public void addError(TemplateError error) {
        if (error == null) {
            return;
        }
        int depth = 0;
        for (Throwable t = error.getException(); t != null && depth < 20; t = t.getCause(), depth++) {
            if (t instanceof ChatTemplateFailure failure) {
                throw failure; // already stopped deeper down: keep unwinding
            }
            if (t instanceof UnsupportedOperationException) {
                throw new ChatTemplateFailure("line " + error.getLineno() + ": the messages and variables"
                        + " a chat template gets are read-only (transformers renders in jinja2's immutable"
                        + " sandbox); build new values with {% set %} or namespace() instead");
            }
            if (t instanceof PyError py) {
                throw new ChatTemplateFailure(py.raised() ? py.getMessage()
                        : "line " + error.getLineno() + ": " + py.getMessage());
            }
        }
        if (error.getReason() == TemplateError.ErrorReason.OUTPUT_TOO_BIG) {
            throw budget.exceeded("output size", "the rendered text grew past the limit",
                    budget.limits.maxOutputChars() + " characters", "withMaxOutputChars");
        }
        String message = error.getMessage();
        if (message != null && (message.startsWith("Max recursion limit of ") || message.startsWith("Cycle detected for macro"))) {
            // jinja2 has no limit of its own: Python's stack runs out and it raises RecursionError
            String macro = message.contains("macro '") ? message.substring(message.indexOf("macro '")) : "a macro";
            throw budget.exceeded("macro recursion depth", "RecursionError: maximum recursion depth exceeded"
                    + " in " + macro, String.valueOf(budget.limits.maxMacroDepth()),
                    "withMaxMacroDepth");
        }
        if (error.getSeverity() == TemplateError.ErrorType.FATAL
                // jinjava only warns about a stray {% endif %} or an unclosed {{ ; jinja2 refuses them
                || error.getReason() == TemplateError.ErrorReason.SYNTAX_ERROR) {
            throw new ChatTemplateFailure(ChatTemplateEngine.describe(error));
        }
        super.addError(error); // warnings (e.g. an unknown attribute: jinja2's Undefined) are not errors
    }

    @Override
    public String getAsString(Object value) {
        return PyObjects.str(value);
    }
}
