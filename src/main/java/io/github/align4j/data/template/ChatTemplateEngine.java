package io.github.align4j.data.template;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpretException;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.IfTag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import io.github.align4j.Align4jException;
import java.lang.reflect.Method;
import java.util.Locale;
import java.util.Map;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ExpressionFactory;

/**
 * The one jinjava set up like transformers' jinja2 environment for chat templates: {@code
 * trim_blocks}, {@code lstrip_blocks}, Python string methods, {@code raise_exception}, {@code
 * strftime_now}, transformers' {@code tojson}. jinjava's {@link Jinjava} is safe to share between
 * threads; each render gets its own context and interpreter.
 */
final class ChatTemplateEngine {
    private ChatTemplateEngine() {}

    static final JinjavaConfig CONFIG;
    static final Jinjava JINJAVA;

    static {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PyStringResolver());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        CONFIG = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        // '-' is whitespace control only right after '{{' / '{%' (else {{ -1 }} prints 1)
                        .withParseWhitespaceControlStrictly(true)
                        // {{- x -}} and {#- -#} strip whitespace as {%- -%} does
                        .withUseTrimmingForNotesAndExpressions(true)
                        // Python: iterating a dict gives its keys; {key: v} evaluates key
                        .withIterateOverMapKeys(true)
                        .withEvaluateMapKeys(true)
                        .withKeepNullableLoopValues(true)
                        .build())
                // Message text that contains '{{' must come out as it is, not be rendered again.
                .withNestedInterpretationEnabled(false)
                .withElResolver(resolver)
                .withInterperterFactory(new ChatTemplateInterpreter.Factory())
                .withLocale(Locale.ENGLISH)
                // jinja2's sandbox allows range() up to 100000 items; jinjava's default stops at 1000
                .withRangeLimit(100_000)
                .build();
        JINJAVA = new PyJinjava(CONFIG);
        JINJAVA.registerTag(new PyIfTag());
        JINJAVA.registerFunction(function("raise_exception", "raiseException"));
        JINJAVA.registerFunction(function("strftime_now", "strftimeNow"));
        JINJAVA.registerFunction(function("dict", "dict", Object[].class));
        JINJAVA.registerFilter(new ChatTemplateFunctions.ToJson());
        JINJAVA.registerFilter(new ChatTemplateFunctions.Trim());
        JINJAVA.registerFilter(new ChatTemplateFunctions.Str());
        JINJAVA.registerFilter(new ChatTemplateFunctions.Sort());
    }

    /**
     * jinjava with jinja2's expression semantics where jinjava's differ (see {@link PyParser}): the
     * precedence of {@code not}, and Python's truth for {@code not}, {@code and}, {@code or} and
     * {@code x if c else y} ({@link PyTruth}; jinjava takes the string "false" for false).
     */
    private static final class PyJinjava extends Jinjava {
        private final ExpressionFactory expressionFactory;

        PyJinjava(JinjavaConfig config) {
            super(config);
            expressionFactory = PyParser.expressionFactory();
        }

        @Override
        public ExpressionFactory getExpressionFactory() {
            return expressionFactory != null ? expressionFactory : super.getExpressionFactory();
        }
    }

    /** {@code {% if %}} / {@code {% elif %}} with Python's truth (see {@link PyTruth}). */
    private static final class PyIfTag extends IfTag {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean isPositiveIfElseNode(TagNode tagNode, JinjavaInterpreter interpreter) {
            return PyTruth.of(interpreter.resolveELExpression(tagNode.getHelpers(), tagNode.getLineNumber(),
                    tagNode.getStartPosition()));
        }
    }

    /** Bound as variables too, so that {@code strftime_now is defined} is true, as in transformers. */
    static final Map<String, Object> GLOBALS = Map.of(
            "raise_exception", "<function raise_exception>",
            "strftime_now", "<function strftime_now>",
            "dict", "<class 'dict'>");

    private static ELFunctionDefinition function(String name, String method) {
        return function(name, method, Object.class);
    }

    private static ELFunctionDefinition function(String name, String method, Class<?> parameter) {
        try {
            Method m = ChatTemplateFunctions.class.getDeclaredMethod(method, parameter);
            m.setAccessible(true); // the class is package-private; jinjava calls it by reflection
            return new ELFunctionDefinition("", name, m);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Parses a template once; the tree is then rendered many times, from any thread (nodes are not
     * changed by rendering).
     */
    static Node parse(String template, String source) {
        JinjavaInterpreter interpreter = newInterpreter(Map.of());
        JinjavaInterpreter.pushCurrent(interpreter);
        try {
            return interpreter.parse(template);
        } catch (ChatTemplateFailure f) {
            throw new Align4jException(source + ": chat template: " + f.getMessage());
        } catch (RuntimeException e) {
            throw jinjavaFailure(e, source);
        } finally {
            JinjavaInterpreter.popCurrent();
        }
    }

    static String render(Node root, Map<String, Object> bindings, String source) {
        JinjavaInterpreter interpreter = newInterpreter(bindings);
        JinjavaInterpreter.pushCurrent(interpreter);
        try {
            String out = interpreter.render(root, true);
            for (TemplateError error : interpreter.getErrors()) {
                if (error.getSeverity() == TemplateError.ErrorType.FATAL) { // normally thrown at once
                    throw new Align4jException(source + ": chat template: " + describe(error));
                }
            }
            return out;
        } catch (ChatTemplateFailure f) {
            throw new Align4jException(source + ": chat template: " + f.getMessage());
        } catch (RuntimeException e) {
            throw jinjavaFailure(e, source);
        } finally {
            JinjavaInterpreter.popCurrent();
        }
    }

    /** A fresh interpreter and context for one parse or render; see {@link ChatTemplateContext}. */
    private static JinjavaInterpreter newInterpreter(Map<String, Object> bindings) {
        Context context = new ChatTemplateContext(JINJAVA.getGlobalContext(), bindings, CONFIG.getDisabled());
        return CONFIG.getInterpreterFactory().newInstance(JINJAVA, context, CONFIG);
    }

    /**
     * A jinjava exception that escaped its error list (a malformed tag, include/extends, ...) as an
     * Align4jException with the template's source and line.
     */
    private static Align4jException jinjavaFailure(RuntimeException e, String source) {
        if (e instanceof Align4jException a) {
            return a;
        }
        String where = e instanceof InterpretException ie && ie.getLineNumber() > 0
                ? "line " + ie.getLineNumber() + ": " : "";
        String message = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        return new Align4jException(source + ": chat template: " + where + message, e);
    }

    /** A jinjava error as a message for the user: where, what, and for known cases how to fix it. */
    static String describe(TemplateError error) {
        String message = error.getMessage();
        String where = error.getLineno() > 0 ? "line " + error.getLineno() + ": " : "";
        if (message != null && message.contains("Unknown tag: ")) {
            String tag = error.getFieldName();
            if ("generation".equals(tag) || "endgeneration".equals(tag)) {
                return where + "the {% generation %} tag (transformers' marker for"
                        + " return_assistant_tokens_mask) is not supported by align4j's chat template"
                        + " engine; use a copy of the template without the {% generation %} and"
                        + " {% endgeneration %} tags (they do not change the rendered text)";
            }
            return where + "unknown tag {% " + tag + " %}: align4j's chat template engine (jinjava)"
                    + " does not support it; use a template without it";
        }
        if (message != null && message.contains("\nOriginating Exception")) {
            message = message.substring(0, message.indexOf("\nOriginating Exception")); // jinjava's addendum
        }
        return where + message;
    }
}
