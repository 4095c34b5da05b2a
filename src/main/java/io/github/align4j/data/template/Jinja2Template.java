package io.github.align4j.data.template;

import com.hubspot.jinjava.tree.Node;
import io.github.align4j.Align4jException;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A jinja template parsed once and rendered the way transformers' chat-template environment
 * (jinja2's {@code ImmutableSandboxedEnvironment} with {@code trim_blocks}, {@code lstrip_blocks},
 * {@code raise_exception}, {@code strftime_now} and its {@code tojson}) renders it. This is the one
 * entry point of the package; {@code io.github.align4j.data.ChatTemplate} builds the variables a
 * chat template gets.
 *
 * <p>Instances are immutable and safe to use from several threads at once.
 */
public final class Jinja2Template {
    private final Node root;
    private final String source;
    private final TemplateLimits limits;

    private Jinja2Template(Node root, String source, TemplateLimits limits) {
        this.root = root;
        this.source = source;
        this.limits = limits;
    }

    /**
     * Parses a template. Like jinja2, newlines are normalized to {@code \n} and one final newline is
     * dropped.
     *
     * @param template the jinja source
     * @param source where the template came from, named in every error message
     * @param limits what one render may cost; see {@link TemplateLimits}
     * @throws Align4jException if the template does not parse, nests past the limit or loads other
     *     templates ({@code include}, {@code import}, {@code from}, {@code extends})
     */
    public static Jinja2Template parse(String template, String source, TemplateLimits limits) {
        Objects.requireNonNull(template, "template");
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(limits, "limits");
        return new Jinja2Template(ChatTemplateEngine.parse(jinja2Source(template), source, limits), source, limits);
    }

    /**
     * jinja2 reads a template with its newlines normalized to {@code \n} and, as {@code
     * keep_trailing_newline} is false, without one final newline.
     */
    static String jinja2Source(String template) {
        String s = template.replace("\r\n", "\n").replace('\r', '\n');
        return s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    }

    /**
     * Renders with the given variables. Values may be String, Boolean, Number, null, List and Map
     * (nested); lists and maps are copied, read-only, so the template cannot change them.
     *
     * @throws Align4jException {@code "<source>: chat template: <message>"} for the template's own
     *     {@code raise_exception(...)}, for a limit exceeded, for anything the sandbox refuses and for
     *     any other error
     */
    public String render(Map<String, ?> variables) {
        Map<String, Object> bindings = new HashMap<>(ChatTemplateEngine.GLOBALS);
        variables.forEach((name, value) -> bindings.put(name, PyObjects.frozen(value)));
        return ChatTemplateEngine.render(root, bindings, source, limits);
    }
}
