package io.github.align4j.data.template;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.filter.FormatFilter;
import com.hubspot.jinjava.objects.SafeString;
import com.hubspot.jinjava.util.ForLoop;
import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * The last EL resolver of the chat template engine, and the only one besides {@link
 * PyStringResolver}: jinjava's own resolvers (which read bean properties and call any public Java
 * method by reflection) are not installed at all. It resolves exactly what jinja2's
 * ImmutableSandboxedEnvironment lets a chat template reach:
 *
 * <ul>
 *   <li>dict keys ({@code m.role}, {@code m['role']}) and the dict methods {@code items()}, {@code
 *       keys()}, {@code values()}, {@code get(key[, default])};
 *   <li>list indices ({@code messages[-1]}) and the list methods {@code index(x)}, {@code count(x)};
 *   <li>the attributes of {@code loop} ({@code index}, {@code index0}, {@code revindex}, {@code
 *       revindex0}, {@code first}, {@code last}, {@code length}, {@code depth}, {@code depth0})
 *       and {@code loop.cycle(...)};
 *   <li>jinjava's own calls of filters and tests, which its parser writes for {@code x|f} and
 *       {@code x is t} (a template cannot name those objects itself: {@link PyParser} refuses the
 *       identifiers).
 * </ul>
 *
 * Any other attribute of a str, number, bool or None is undefined, as in jinja2; any attribute or
 * method of any other Java object, and any method that would change a value ({@code append},
 * {@code update}, ...), is refused with jinja2's "access to attribute ... is unsafe".
 */
final class SandboxResolver extends ELResolver {

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        if (base == null) {
            return null; // variables are looked up by jinjava's interpreter resolver, not here
        }
        context.setPropertyResolved(true);
        String name = Objects.toString(property, "");
        if (base instanceof Map<?, ?> map) {
            Object value = map.get(property);
            if (value == null && !(property instanceof String)) {
                value = map.get(name);
            }
            if (value == null && name.matches("-?[0-9]{1,18}")) {
                value = map.get(Long.parseLong(name)); // {1: 'a'}[1]: jinjava passes the index as text
            }
            return value;
        }
        if (base instanceof List<?> || base instanceof Object[]) {
            List<?> list = base instanceof List<?> l ? l : Arrays.asList((Object[]) base);
            Long index = integer(property);
            if (index == null) {
                return null; // jinja2: undefined
            }
            long i = index < 0 ? index + list.size() : index;
            return i < 0 || i >= list.size() ? null : list.get((int) i);
        }
        if (base instanceof ForLoop loop) {
            switch (name) {
                case "index": return (long) loop.getIndex();
                case "index0": return (long) loop.getIndex0();
                case "revindex": return (long) loop.getRevindex();
                case "revindex0": return (long) loop.getRevindex0();
                case "first": return loop.isFirst();
                case "last": return loop.isLast();
                case "length": return (long) loop.getLength();
                case "depth": return (long) loop.getDepth();
                case "depth0": return (long) loop.getDepth0();
                default: return null;
            }
        }
        if (base instanceof Filter || base instanceof ExpTest) {
            return null; // jinjava looks for a macro of the method's name first; there is none
        }
        if (isPlainValue(base)) {
            return null; // jinja2: an attribute a str, int or bool lacks is undefined
        }
        throw unsafe(name, base);
    }

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (base == null || method == null) {
            return null;
        }
        String name = method.toString();
        Object[] args = params == null ? new Object[0] : params;
        Object result;
        if (base instanceof Filter filter && name.equals("filter") && args.length == 4
                && args[1] instanceof JinjavaInterpreter interpreter) {
            result = filter(filter, args[0], interpreter, (Object[]) args[2], cast(args[3]));
        } else if (base instanceof ExpTest test && (name.equals("evaluate") || name.equals("evaluateNegated"))
                && args.length >= 2 && args[1] instanceof JinjavaInterpreter interpreter) {
            Object[] rest = Arrays.copyOfRange(args, 2, args.length);
            result = name.equals("evaluate") ? test.evaluate(args[0], interpreter, rest)
                    : test.evaluateNegated(args[0], interpreter, rest);
        } else if (base instanceof Map<?, ?> map) {
            result = dictMethod(map, name, args);
        } else if (base instanceof List<?> list) {
            result = listMethod(list, name, args);
        } else if (base instanceof ForLoop loop && name.equals("cycle")) {
            result = loop.cycle(args.length == 1 && args[0] instanceof Object[] a ? a : args);
        } else if (isPlainValue(base) || base instanceof ForLoop) {
            throw new PyError("'" + PyObjects.typeName(base) + "' object has no attribute '" + name + "'");
        } else {
            throw unsafe(name, base);
        }
        context.setPropertyResolved(true);
        return result;
    }

    /** Calls a filter after refusing arguments that would build a string past the limit. */
    private static Object filter(Filter filter, Object value, JinjavaInterpreter interpreter, Object[] args,
            Map<String, Object> kwargs) {
        ChatTemplateInterpreter.Budget budget = ChatTemplateInterpreter.budget();
        String what = "the argument of the " + filter.getName() + " filter";
        for (Object arg : args) {
            budget.checkSizeArgument(arg, what);
        }
        for (Object arg : kwargs.values()) {
            budget.checkSizeArgument(arg, what);
        }
        if (filter instanceof FormatFilter && value != null) {
            Matcher widths = FORMAT_WIDTH.matcher(PyObjects.str(value));
            while (widths.find()) {
                for (int g = 1; g <= 2; g++) {
                    if (widths.group(g) != null) {
                        budget.checkString(widths.group(g).length() > 12 ? Long.MAX_VALUE
                                : Long.parseLong(widths.group(g)), "a width in the format filter");
                    }
                }
            }
        }
        Object result = filter.filter(value, interpreter, args, kwargs);
        if (result instanceof String s) {
            budget.checkString(s.length(), "the " + filter.getName() + " filter");
        }
        return result;
    }

    /** A width or precision of a Java/printf format ({@code %2000000000s}). */
    private static final Pattern FORMAT_WIDTH = Pattern.compile("%[-#+ 0,(<]*([0-9]+)?(?:\\.([0-9]+))?");

    @SuppressWarnings("unchecked")
    private static Map<String, Object> cast(Object kwargs) {
        return kwargs instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
    }

    private static Object dictMethod(Map<?, ?> map, String name, Object[] args) {
        switch (name) {
            case "items": {
                arity(name, args, 0, 0);
                List<Object> items = new ArrayList<>(map.size());
                map.forEach((k, v) -> items.add(Collections.unmodifiableList(Arrays.asList(k, v))));
                return Collections.unmodifiableList(items);
            }
            case "keys":
                arity(name, args, 0, 0);
                return Collections.unmodifiableList(new ArrayList<>(map.keySet()));
            case "values":
                arity(name, args, 0, 0);
                return Collections.unmodifiableList(new ArrayList<>(map.values()));
            case "get": {
                arity(name, args, 1, 2);
                Object value = map.get(args[0]);
                return value != null || map.containsKey(args[0]) ? value : args.length > 1 ? args[1] : null;
            }
            default:
                throw MUTATORS.contains(name) ? unsafe(name, map)
                        : new PyError("'dict' object has no attribute '" + name + "'");
        }
    }

    private static Object listMethod(List<?> list, String name, Object[] args) {
        switch (name) {
            case "index": {
                arity(name, args, 1, 1);
                int at = list.indexOf(args[0]);
                if (at < 0) {
                    throw new PyError(PyObjects.repr(args[0]) + " is not in list");
                }
                return (long) at;
            }
            case "count":
                arity(name, args, 1, 1);
                return list.stream().filter(x -> Objects.equals(x, args[0])).count();
            default:
                throw MUTATORS.contains(name) ? unsafe(name, list)
                        : new PyError("'list' object has no attribute '" + name + "'");
        }
    }

    /** The methods of Python's list and dict that change them: jinja2's immutable sandbox refuses them. */
    private static final java.util.Set<String> MUTATORS = java.util.Set.of("append", "extend", "insert", "pop",
            "remove", "clear", "sort", "reverse", "update", "setdefault", "popitem", "add", "discard", "put");

    private static void arity(String name, Object[] args, int min, int max) {
        if (args.length < min || args.length > max) {
            throw new PyError(name + "() takes " + (min == max ? String.valueOf(min) : min + " to " + max)
                    + " arguments (" + args.length + " given)");
        }
    }

    private static boolean isPlainValue(Object base) {
        return base instanceof String || base instanceof SafeString || base instanceof Number
                || base instanceof Boolean;
    }

    /** jinja2's SecurityError, without naming the Java class (a template should not learn it). */
    private static PyError unsafe(String name, Object base) {
        return new PyError("access to attribute '" + name + "' of '" + PyObjects.typeName(base)
                + "' object is unsafe (chat templates are sandboxed, as in transformers)");
    }

    /** An integer index; jinjava hands the resolvers {@code x[-1]}'s index as the string "-1". */
    private static Long integer(Object property) {
        if (property instanceof Long || property instanceof Integer) {
            return ((Number) property).longValue();
        }
        if (property instanceof String p && p.matches("-?[0-9]{1,18}")) {
            return Long.parseLong(p);
        }
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        throw new PyError("the values a chat template gets are read-only");
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        throw new PyError("the values a chat template gets are read-only");
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
