package io.github.align4j.data.template;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpretException;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.IfTag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import io.github.align4j.Align4jException;
import com.hubspot.jinjava.lib.filter.Filter;
import java.io.IOException;
import java.lang.reflect.Method;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELResolver;
import jinjava.javax.el.ExpressionFactory;

/**
 * The one jinjava set up like transformers' jinja2 environment for chat templates: {@code
 * trim_blocks}, {@code lstrip_blocks}, Python string methods, {@code raise_exception}, {@code
 * strftime_now}, transformers' {@code tojson}. jinjava's {@link Jinjava} is safe to share between
 * threads; each render gets its own context and interpreter.
 *
 * <p>It is also a sandbox that does not rely on jinjava's own: a template reaches only its variables
 * and what {@link SandboxResolver} and {@link PyStringResolver} allow (no bean properties, no Java
 * methods, no interpreter: {@link PyParser} refuses the identifiers jinjava uses internally), only
 * the filters, functions and tests of jinja2's sandbox that transformers' templates use ({@link
 * ChatTemplateContext}), and no template loading at all ({@code include}, {@code import}, {@code
 * from} and {@code extends} are refused when the template is parsed, and the resource locator
 * refuses every name). {@link TemplateLimits} bound what a render may cost.
 */
final class ChatTemplateEngine {
    private ChatTemplateEngine() {}

    static final JinjavaConfig CONFIG;
    static final Jinjava JINJAVA;

    /** The tags that load other templates; chat templates render alone (transformers has no loader). */
    static final Set<String> REFUSED_TAGS = Set.of("include", "import", "from", "extends");

    /**
     * The filters of jinja2 (as transformers sets it up) that jinjava has, plus transformers'
     * tojson; every other jinjava filter ({@code fromjson}, {@code fromyaml}, {@code render},
     * {@code pprint}, date and network filters, ...) is not there.
     */
    static final Set<String> FILTERS = Set.of("abs", "attr", "batch", "capitalize", "center", "count", "d",
            "default", "dictsort", "e", "escape", "filesizeformat", "first", "float", "forceescape", "format",
            "groupby", "indent", "int", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
            "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort",
            "string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode",
            "urlize", "wordcount", "wordwrap", "xmlattr");

    /** The global functions a chat template may call (jinja2's, as transformers sets them up). */
    static final Set<String> FUNCTIONS = Set.of("range", "namespace", "dict", "raise_exception", "strftime_now");

    private static final ELResolver RESOLVER;
    private static final Set<String> DISABLED_FILTERS;
    private static final Set<String> DISABLED_FUNCTIONS;

    static {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PyStringResolver());
        resolver.add(new SandboxResolver()); // last: resolves or refuses everything; no bean resolver
        RESOLVER = resolver;
        Jinjava plain = new Jinjava();
        DISABLED_FILTERS = disabledFilters(plain);
        DISABLED_FUNCTIONS = disabledFunctions(plain);
        CONFIG = config(TemplateLimits.defaults());
        JINJAVA = new PyJinjava(CONFIG);
        JINJAVA.setResourceLocator((name, encoding, interpreter) -> {
            throw new IOException("chat templates cannot load other templates or files");
        });
        JINJAVA.registerTag(new PyIfTag());
        JINJAVA.registerFunction(function("raise_exception", "raiseException"));
        JINJAVA.registerFunction(function("strftime_now", "strftimeNow"));
        JINJAVA.registerFunction(function("dict", "dict", Object[].class));
        JINJAVA.registerFunction(function("range", "range", Object[].class));
        JINJAVA.registerFilter(new ChatTemplateFunctions.ToJson());
        JINJAVA.registerFilter(new ChatTemplateFunctions.Trim());
        JINJAVA.registerFilter(new ChatTemplateFunctions.Str());
        JINJAVA.registerFilter(new ChatTemplateFunctions.Sort());
    }

    /** jinjava's configuration for the given limits (one per {@link TemplateLimits}; cheap). */
    static JinjavaConfig config(TemplateLimits limits) {
        return JinjavaConfig.newBuilder()
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
                .withElResolver(RESOLVER)
                .withInterperterFactory(new ChatTemplateInterpreter.Factory())
                .withLocale(Locale.ENGLISH)
                .withDisabled(Map.of(Context.Library.FILTER, DISABLED_FILTERS,
                        Context.Library.FUNCTION, DISABLED_FUNCTIONS))
                // filters go through SandboxResolver, which checks their arguments against the limits
                .withEnableFilterChainOptimization(false)
                .withRangeLimit((int) ChatTemplateFunctions.MAX_RANGE)
                .withMaxOutputSize(limits.maxOutputChars())
                .withMaxStringLength(limits.maxStringChars())
                .withEnableRecursiveMacroCalls(true)
                .withMaxMacroRecursionDepth(limits.maxMacroDepth())
                .build();
    }

    private static Set<String> disabledFilters(Jinjava plain) {
        Set<String> names = new HashSet<>();
        for (Filter f : plain.getGlobalContext().getAllFilters()) {
            if (!FILTERS.contains(f.getName())) {
                names.add(f.getName());
            }
        }
        return names;
    }

    private static Set<String> disabledFunctions(Jinjava plain) {
        Set<String> names = new HashSet<>();
        for (ELFunctionDefinition f : plain.getGlobalContext().getAllFunctions()) {
            if (!f.getNamespace().isEmpty() || !FUNCTIONS.contains(f.getLocalName())) {
                names.add(f.getName());
            }
        }
        return names;
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
     * changed by rendering). Refuses the tags that load templates and nesting past the limit here,
     * before anything renders.
     */
    static Node parse(String template, String source, TemplateLimits limits) {
        JinjavaInterpreter interpreter = newInterpreter(Map.of(), limits, source);
        JinjavaInterpreter.pushCurrent(interpreter);
        try {
            Node root = interpreter.parse(template);
            for (TemplateError error : interpreter.getErrors()) {
                if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                    throw new Align4jException(source + ": chat template: " + describe(error));
                }
            }
            check(root, source, limits);
            return root;
        } catch (ChatTemplateFailure f) {
            throw new Align4jException(source + ": chat template: " + f.getMessage());
        } catch (StackOverflowError | OutOfMemoryError e) {
            throw exhausted(e, source, "parsing");
        } catch (RuntimeException e) {
            throw jinjavaFailure(e, source);
        } finally {
            JinjavaInterpreter.popCurrent();
        }
    }

    /** Walks the tree (without recursion: it may be deep) for refused tags and the nesting limit. */
    private static void check(Node root, String source, TemplateLimits limits) {
        Deque<Node> nodes = new ArrayDeque<>();
        Deque<Integer> depths = new ArrayDeque<>();
        nodes.push(root);
        depths.push(0);
        while (!nodes.isEmpty()) {
            Node node = nodes.pop();
            int depth = depths.pop();
            if (depth > limits.maxNestingDepth()) {
                throw new Align4jException(source + ": chat template: line " + node.getLineNumber()
                        + ": nesting depth exceeded (more than " + limits.maxNestingDepth() + " tags inside each"
                        + " other); the limit is " + limits.maxNestingDepth() + ", change it with"
                        + " TemplateLimits.withMaxNestingDepth (ChatTemplate.of(..., limits))");
            }
            if (node instanceof TagNode tag && REFUSED_TAGS.contains(tag.getName())) {
                throw new Align4jException(source + ": chat template: line " + node.getLineNumber() + ": "
                        + refusedTag(tag.getName()));
            }
            for (Node child : node.getChildren()) {
                nodes.push(child);
                depths.push(depth + 1);
            }
        }
    }

    static String refusedTag(String tag) {
        return "{% " + tag + " %} is refused: a chat template renders alone and may not load other"
                + " templates or files (transformers' sandbox has no loader either); put the text in the"
                + " template itself";
    }

    static String render(Node root, Map<String, Object> bindings, String source, TemplateLimits limits) {
        JinjavaInterpreter interpreter = newInterpreter(bindings, limits, source);
        JinjavaInterpreter.pushCurrent(interpreter);
        try {
            String out = interpreter.render(root, true);
            for (TemplateError error : interpreter.getErrors()) {
                if (error.getSeverity() == TemplateError.ErrorType.FATAL) { // normally thrown at once
                    throw new Align4jException(source + ": chat template: " + describe(error));
                }
            }
            if (out.length() > limits.maxOutputChars()) {
                throw new Align4jException(source + ": chat template: output size exceeded (" + out.length()
                        + " characters); the limit is " + limits.maxOutputChars() + " characters, change it with"
                        + " TemplateLimits.withMaxOutputChars (ChatTemplate.of(..., limits))");
            }
            return out;
        } catch (ChatTemplateFailure f) {
            throw new Align4jException(source + ": chat template: " + f.getMessage());
        } catch (StackOverflowError | OutOfMemoryError e) {
            throw exhausted(e, source, "rendering");
        } catch (RuntimeException e) {
            throw jinjavaFailure(e, source);
        } finally {
            JinjavaInterpreter.popCurrent();
        }
    }

    /**
     * A template that ran the Java stack or the heap out (an expression nested thousands deep, values
     * built past the limits' checks): refused like any other hostile template, not reported as a bug.
     */
    private static Align4jException exhausted(Error e, String source, String doing) {
        String what = e instanceof StackOverflowError
                ? "nesting depth exceeded (the Java stack ran out " + doing + " it: expressions or calls nested"
                        + " too deeply); simplify the template or give the JVM a larger stack (-Xss)"
                : "memory exceeded (the Java heap ran out " + doing + " it); lower the limits of TemplateLimits or"
                        + " give the JVM more memory (-Xmx)";
        return new Align4jException(source + ": chat template: " + what);
    }

    /** A fresh interpreter and context for one parse or render; see {@link ChatTemplateContext}. */
    private static JinjavaInterpreter newInterpreter(Map<String, Object> bindings, TemplateLimits limits,
            String source) {
        JinjavaConfig config = limits == TemplateLimits.defaults() ? CONFIG : config(limits);
        Context context = new ChatTemplateContext(JINJAVA.getGlobalContext(), bindings, config.getDisabled());
        return new ChatTemplateInterpreter(JINJAVA, context, config, new ChatTemplateInterpreter.Budget(limits, source));
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
            if (REFUSED_TAGS.contains(tag)) {
                return where + refusedTag(tag);
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
