package io.github.align4j.data.template;

import com.hubspot.jinjava.el.ext.NamedParameter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Python's {@code str.format}: replacement fields {@code {}}, {@code {0}}, {@code {name}}, {@code
 * {0[key]}}, {@code {0.attr}} with conversions {@code !s}/{@code !r} and the common format specs
 * ({@code [[fill]align][sign][0][width][,][.precision][type]} for types s, d, f, e, %, g).
 */
final class PyFormat {
    private PyFormat() {}

    static String format(String template, Object[] args) {
        List<Object> positional = new ArrayList<>();
        Map<String, Object> named = new HashMap<>();
        for (Object arg : args == null ? new Object[0] : args) {
            if (arg instanceof NamedParameter p) {
                named.put(p.getName(), p.getValue());
            } else {
                positional.add(arg);
            }
        }
        StringBuilder out = new StringBuilder();
        int auto = 0;
        int i = 0;
        while (i < template.length()) {
            char c = template.charAt(i);
            if (c == '}') {
                if (i + 1 < template.length() && template.charAt(i + 1) == '}') {
                    out.append('}');
                    i += 2;
                    continue;
                }
                throw new PyError("Single '}' encountered in format string");
            }
            if (c != '{') {
                out.append(c);
                i++;
                continue;
            }
            if (i + 1 < template.length() && template.charAt(i + 1) == '{') {
                out.append('{');
                i += 2;
                continue;
            }
            int end = template.indexOf('}', i);
            if (end < 0) {
                throw new PyError("Single '{' encountered in format string");
            }
            String field = template.substring(i + 1, end);
            i = end + 1;
            String spec = "";
            int colon = field.indexOf(':');
            if (colon >= 0) {
                spec = field.substring(colon + 1);
                field = field.substring(0, colon);
            }
            char conversion = 0;
            int bang = field.indexOf('!');
            if (bang >= 0) {
                String conv = field.substring(bang + 1);
                if (!conv.equals("s") && !conv.equals("r") && !conv.equals("a")) {
                    throw new PyError("Unknown conversion specifier " + conv);
                }
                conversion = conv.charAt(0);
                field = field.substring(0, bang);
            }
            int cut = firstOf(field, '.', '[');
            String head = cut < 0 ? field : field.substring(0, cut);
            Object value;
            if (head.isEmpty()) {
                if (auto >= positional.size()) {
                    throw new PyError("Replacement index " + auto + " out of range for positional args tuple");
                }
                value = positional.get(auto++);
            } else if (head.chars().allMatch(Character::isDigit)) {
                int index = Integer.parseInt(head);
                if (index >= positional.size()) {
                    throw new PyError("Replacement index " + index + " out of range for positional args tuple");
                }
                value = positional.get(index);
            } else {
                if (!named.containsKey(head)) {
                    throw new PyError("KeyError: '" + head + "'");
                }
                value = named.get(head);
            }
            value = lookup(value, cut < 0 ? "" : field.substring(cut));
            if (conversion == 'r' || conversion == 'a') {
                value = PyObjects.repr(value);
            } else if (conversion == 's') {
                value = PyObjects.str(value);
            }
            out.append(applySpec(value, spec));
        }
        return out.toString();
    }

    private static int firstOf(String s, char a, char b) {
        int x = s.indexOf(a);
        int y = s.indexOf(b);
        return x < 0 ? y : y < 0 ? x : Math.min(x, y);
    }

    /** Follows {@code .attr} and {@code [key]} parts of a field name. */
    private static Object lookup(Object value, String rest) {
        int i = 0;
        while (i < rest.length()) {
            String key;
            if (rest.charAt(i) == '.') {
                int next = firstOf(rest.substring(i + 1), '.', '[');
                key = next < 0 ? rest.substring(i + 1) : rest.substring(i + 1, i + 1 + next);
                i = next < 0 ? rest.length() : i + 1 + next;
            } else {
                int close = rest.indexOf(']', i);
                if (close < 0) {
                    throw new PyError("Missing ']' in format string");
                }
                key = rest.substring(i + 1, close);
                i = close + 1;
            }
            if (value instanceof Map<?, ?> map) {
                value = map.get(key);
            } else if (value instanceof List<?> list && key.chars().allMatch(Character::isDigit)) {
                value = list.get(Integer.parseInt(key));
            } else {
                throw new PyError("cannot look up '" + key + "' in a " + PyObjects.typeName(value));
            }
        }
        return value;
    }

    private static String applySpec(Object value, String spec) {
        if (spec.isEmpty()) {
            return PyObjects.str(value);
        }
        java.util.regex.Matcher m = java.util.regex.Pattern
                .compile("(?:(.)?([<>=^]))?([+\\- ])?(0)?(\\d+)?(,)?(?:\\.(\\d+))?([sdfeEgG%])?")
                .matcher(spec);
        if (!m.matches()) {
            throw new PyError("format spec '" + spec + "' is not supported");
        }
        char fill = m.group(1) != null ? m.group(1).charAt(0) : (m.group(4) != null ? '0' : ' ');
        String align = m.group(2);
        String sign = m.group(3);
        if (m.group(5) != null) {
            ChatTemplateInterpreter.budget().checkString(m.group(5).length() > 12 ? Long.MAX_VALUE
                    : Long.parseLong(m.group(5)), "the width of a str.format() field");
        }
        if (m.group(7) != null && m.group(7).length() > 9) {
            throw new PyError("Too many decimal digits in format string");
        }
        int width = m.group(5) == null ? 0 : Integer.parseInt(m.group(5));
        boolean grouping = m.group(6) != null;
        Integer precision = m.group(7) == null ? null : Integer.parseInt(m.group(7));
        String type = m.group(8);
        String body;
        boolean numeric = value instanceof Number && !(value instanceof Boolean);
        if (type == null && !numeric || "s".equals(type)) {
            body = PyObjects.str(value);
            if (precision != null && body.length() > precision) {
                body = body.substring(0, precision);
            }
            if (align == null) {
                align = "<";
            }
        } else {
            if (!numeric) {
                throw new PyError("Unknown format code '" + type + "' for object of type '"
                        + PyObjects.typeName(value) + "'");
            }
            Number n = (Number) value;
            boolean integral = !(n instanceof Double || n instanceof Float || n instanceof java.math.BigDecimal);
            String t = type == null ? (integral ? "d" : "g") : type;
            switch (t) {
                case "d" -> {
                    if (!integral) {
                        throw new PyError("Unknown format code 'd' for object of type 'float'");
                    }
                    body = grouping ? String.format(Locale.ROOT, "%,d", n.longValue()) : String.valueOf(n.longValue());
                }
                case "f" -> body = String.format(Locale.ROOT, grouping ? "%,." + (precision == null ? 6 : precision) + "f"
                        : "%." + (precision == null ? 6 : precision) + "f", n.doubleValue());
                case "%" -> body = String.format(Locale.ROOT, "%." + (precision == null ? 6 : precision) + "f",
                        n.doubleValue() * 100) + "%";
                case "e", "E" -> {
                    String e = String.format(Locale.ROOT, "%." + (precision == null ? 6 : precision) + "e", n.doubleValue());
                    body = t.equals("E") ? e.toUpperCase(Locale.ROOT) : e;
                }
                default -> body = precision == null && type == null ? PyObjects.str(value)
                        : String.format(Locale.ROOT, "%." + (precision == null ? 6 : Math.max(precision, 1)) + "g", n.doubleValue());
            }
            if (sign != null && !body.startsWith("-")) {
                body = (sign.equals("-") ? "" : sign) + body;
            }
            if (align == null) {
                align = m.group(4) != null ? "=" : ">";
            }
        }
        int pad = width - body.codePointCount(0, body.length());
        if (pad <= 0) {
            return body;
        }
        String fills = String.valueOf(fill).repeat(pad);
        switch (align) {
            case "<":
                return body + fills;
            case "^":
                return String.valueOf(fill).repeat(pad / 2) + body + String.valueOf(fill).repeat(pad - pad / 2);
            case "=":
                if (!body.isEmpty() && "+- ".indexOf(body.charAt(0)) >= 0) {
                    return body.charAt(0) + fills + body.substring(1);
                }
                return fills + body;
            default:
                return fills + body;
        }
    }
}
