package io.github.align4j.data.template;

import com.google.common.collect.SetMultimap;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.Tag;
import java.util.Collection;
import java.util.stream.Collectors;
import java.util.Map;
import java.util.Set;

/**
 * The context of one render, with jinjava's shared global context (filters, tags, functions) as
 * parent. jinjava records every name an expression resolves in the context and in all its parents,
 * for its dependency tracking; here that stops at this context, so that renders on several threads
 * never write to the shared parent. (jinjava's own render copies the whole global context instead,
 * which costs more than rendering a chat template.)
 *
 * <p>It also makes an unknown filter or test an error, as in jinja2 (jinjava renders it as
 * nothing), and it is where the sandbox's lists end: only the filters of {@link
 * ChatTemplateEngine#FILTERS}, the functions of {@link ChatTemplateEngine#FUNCTIONS}, and no tag of
 * {@link ChatTemplateEngine#REFUSED_TAGS}, are found, whatever jinjava has registered.
 */
final class ChatTemplateContext extends Context {

    ChatTemplateContext(Context parent, Map<String, ?> bindings, Map<Library, Set<String>> disabled) {
        super(parent, bindings, disabled);
    }

    @Override
    public Filter getFilter(String name) {
        Filter filter = ChatTemplateEngine.FILTERS.contains(name) ? super.getFilter(name) : null;
        if (filter == null) {
            throw new PyError("no filter named '" + name + "' (jinja2 has it? align4j's chat template"
                    + " engine, jinjava, does not)");
        }
        return filter;
    }

    @Override
    public ELFunctionDefinition getFunction(String name) {
        String local = name.startsWith(":") ? name.substring(1) : name;
        return ChatTemplateEngine.FUNCTIONS.contains(local) ? super.getFunction(name) : null;
    }

    @Override
    public Collection<ELFunctionDefinition> getAllFunctions() {
        return super.getAllFunctions().stream()
                .filter(f -> f.getNamespace().isEmpty() && ChatTemplateEngine.FUNCTIONS.contains(f.getLocalName()))
                .collect(Collectors.toList());
    }

    @Override
    public Tag getTag(String name) {
        return ChatTemplateEngine.REFUSED_TAGS.contains(name) ? null : super.getTag(name);
    }

    @Override
    public ExpTest getExpTest(String name) {
        ExpTest test = super.getExpTest(name);
        if (test == null) {
            throw new PyError("no test named '" + name + "' (jinja2 has it? align4j's chat template"
                    + " engine, jinjava, does not)");
        }
        return test;
    }

    @Override
    public void addResolvedExpression(String expression) {}

    @Override
    public void addResolvedValue(String value) {}

    @Override
    public void addResolvedFunction(String function) {}

    @Override
    public void addDependency(String type, String identification) {}

    @Override
    public void addDependencies(SetMultimap<String, String> dependencies) {}
}
