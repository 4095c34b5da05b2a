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
 * ({@code True}, not {@code true}).
 */
final class ChatTemplateInterpreter extends JinjavaInterpreter {

    ChatTemplateInterpreter(Jinjava jinjava, Context context, JinjavaConfig config) {
        super(jinjava, context, config);
    }

    ChatTemplateInterpreter(JinjavaInterpreter parent) {
        super(parent);
    }

    /** Makes jinjava create this interpreter for nested scopes (macros, includes) too. */
    static final class Factory implements InterpreterFactory {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter parent) {
            return new ChatTemplateInterpreter(parent);
        }

        @Override
        public JinjavaInterpreter newInstance(Jinjava jinjava, Context context, JinjavaConfig config) {
            return new ChatTemplateInterpreter(jinjava, context, config);
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
