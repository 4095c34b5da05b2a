package io.github.align4j.data.template;

import com.hubspot.jinjava.objects.SafeString;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Python's {@code str()}, {@code repr()} and {@code json.dumps()} for the Java values a chat
 * template sees (String, Boolean, numbers, null, List, Map, arrays), so that rendered text matches
 * what jinja2 prints: {@code True}/{@code False}, {@code None}, {@code 1.0}, {@code ['a', 1]},
 * {@code {'k': 'v'}}.
 */
final class PyObjects {
    private PyObjects() {}

    /**
     * What {@code {{ value }}} prints. Like Python's {@code str()}, except that {@code null} prints
     * as the empty string: jinjava cannot tell None from an undefined variable, and jinja2 prints
     * undefined variables as the empty string.
     */
    static String str(Object value) {
        if (value == null) {
            return "";
        }
        if (value instanceof String s) {
            return s;
        }
        if (value instanceof SafeString s) {
            return s.getValue();
        }
        if (value instanceof Boolean || value instanceof Number || value instanceof Map
                || value instanceof Collection || value instanceof Object[]) {
            return repr(value);
        }
        return value.toString();
    }

    /** Python's {@code repr()}. */
    static String repr(Object value) {
        StringBuilder out = new StringBuilder();
        appendRepr(out, value, 0);
        return out.toString();
    }

    private static void appendRepr(StringBuilder out, Object value, int depth) {
        if (depth > 100) {
            throw new PyError("value nested too deeply to print (a list or dict that contains itself?)");
        }
        if (value == null) {
            out.append("None");
        } else if (value instanceof Boolean b) {
            out.append(b ? "True" : "False");
        } else if (value instanceof Number n) {
            out.append(number(n));
        } else if (value instanceof String || value instanceof SafeString || value instanceof Character) {
            appendStringRepr(out, value.toString());
        } else if (value instanceof Map<?, ?> map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!first) {
                    out.append(", ");
                }
                first = false;
                appendRepr(out, e.getKey(), depth + 1);
                out.append(": ");
                appendRepr(out, e.getValue(), depth + 1);
            }
            out.append('}');
        } else if (value instanceof Collection<?> || value instanceof Object[]) {
            out.append('[');
            boolean first = true;
            for (Object item : iterable(value)) {
                if (!first) {
                    out.append(", ");
                }
                first = false;
                appendRepr(out, item, depth + 1);
            }
            out.append(']');
        } else {
            out.append(value);
        }
    }

    private static void appendStringRepr(StringBuilder out, String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        out.append(quote);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == quote || cp == '\\') {
                out.append('\\').append((char) cp);
            } else if (cp == '\t') {
                out.append("\\t");
            } else if (cp == '\n') {
                out.append("\\n");
            } else if (cp == '\r') {
                out.append("\\r");
            } else if (cp < 0x20 || cp == 0x7f || !isPrintable(cp)) {
                if (cp <= 0xff) {
                    out.append(String.format("\\x%02x", cp));
                } else if (cp <= 0xffff) {
                    out.append(String.format("\\u%04x", cp));
                } else {
                    out.append(String.format("\\U%08x", cp));
                }
            } else {
                out.appendCodePoint(cp);
            }
        }
        out.append(quote);
    }

    /** Python's str.isprintable() for one character (space is printable, other separators are not). */
    private static boolean isPrintable(int cp) {
        if (cp == ' ') {
            return true;
        }
        switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE,
                    Character.UNASSIGNED, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                    Character.SPACE_SEPARATOR:
                return false;
            default:
                return true;
        }
    }

    /** Python's str() of an int or a float. */
    static String number(Number n) {
        if (n instanceof Double || n instanceof Float || n instanceof BigDecimal) {
            return floatRepr(n.doubleValue());
        }
        if (n instanceof BigInteger || n instanceof Long || n instanceof Integer || n instanceof Short
                || n instanceof Byte) {
            return n.toString();
        }
        return n.toString();
    }

    /** Python's repr() of a float: the shortest digits that read back to the same double. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal exact = new BigDecimal(d);
        BigDecimal shortest = exact;
        for (int precision = 1; precision <= 17; precision++) {
            BigDecimal candidate = exact.round(new MathContext(precision, RoundingMode.HALF_EVEN));
            if (candidate.doubleValue() == d) {
                shortest = candidate;
                break;
            }
        }
        shortest = shortest.stripTrailingZeros();
        String digits = shortest.unscaledValue().abs().toString();
        // value = 0.d1d2... * 10^(exp10 + 1), i.e. d1.d2d3... * 10^exp10
        int exp10 = digits.length() - 1 - shortest.scale();
        StringBuilder out = new StringBuilder();
        if (d < 0) {
            out.append('-');
        }
        if (exp10 >= -4 && exp10 < 16) { // Python's repr switches to exponents outside this range
            if (exp10 >= 0) {
                if (digits.length() <= exp10 + 1) {
                    out.append(digits).append("0".repeat(exp10 + 1 - digits.length())).append(".0");
                } else {
                    out.append(digits, 0, exp10 + 1).append('.').append(digits, exp10 + 1, digits.length());
                }
            } else {
                out.append("0.").append("0".repeat(-exp10 - 1)).append(digits);
            }
        } else {
            out.append(digits.charAt(0));
            if (digits.length() > 1) {
                out.append('.').append(digits, 1, digits.length());
            }
            out.append('e').append(exp10 < 0 ? '-' : '+');
            int abs = Math.abs(exp10);
            if (abs < 10) {
                out.append('0');
            }
            out.append(abs);
        }
        return out.toString();
    }

    /**
     * A read-only deep copy of a value given to a template: transformers renders in jinja2's
     * ImmutableSandboxedEnvironment, where {@code messages.append(...)} fails, and a template must not
     * change the caller's lists and maps either.
     */
    static Object frozen(Object value) {
        if (value == null || value instanceof String || value instanceof Boolean || value instanceof Long
                || value instanceof Integer || value instanceof Double || value instanceof Float
                || value instanceof Short || value instanceof Byte || value instanceof BigInteger
                || value instanceof BigDecimal) {
            return value;
        }
        if (value instanceof Map<?, ?> map) {
            Map<Object, Object> copy = new LinkedHashMap<>();
            map.forEach((k, v) -> copy.put(k, frozen(v)));
            return Collections.unmodifiableMap(copy);
        }
        if (value instanceof Collection<?> || value instanceof Object[]) {
            List<Object> copy = new ArrayList<>();
            iterable(value).forEach(item -> copy.add(frozen(item)));
            return Collections.unmodifiableList(copy);
        }
        // The sandbox: no Java object other than these plain values reaches a template.
        throw new IllegalArgumentException("a chat template variable must be a String, Boolean, Number, null,"
                + " List or Map (nested), not a " + value.getClass().getName());
    }

    /** Python's type name of a value, for error messages. */
    static String typeName(Object value) {
        if (value == null) {
            return "NoneType";
        }
        if (value instanceof String || value instanceof SafeString) {
            return "str";
        }
        if (value instanceof Boolean) {
            return "bool";
        }
        if (value instanceof Double || value instanceof Float || value instanceof BigDecimal) {
            return "float";
        }
        if (value instanceof Number) {
            return "int";
        }
        if (value instanceof Map) {
            return "dict";
        }
        if (value instanceof Collection || value instanceof Object[]) {
            return "list";
        }
        return value.getClass().getSimpleName();
    }

    /** The items of a list-like value (Collection or array), or of a dict's keys. */
    static Iterable<?> iterable(Object value) {
        if (value instanceof Map<?, ?> map) {
            return map.keySet();
        }
        if (value instanceof Iterable<?> it) {
            return it;
        }
        if (value instanceof Object[] array) {
            return Arrays.asList(array);
        }
        if (value instanceof String s) {
            List<String> chars = new ArrayList<>();
            s.codePoints().forEach(cp -> chars.add(new String(Character.toChars(cp))));
            return chars;
        }
        throw new PyError("'" + typeName(value) + "' object is not iterable");
    }

    // ---------------------------------------------------------------------------------- json.dumps

    /**
     * Python's {@code json.dumps(value, ensure_ascii=..., indent=..., separators=..., sort_keys=...)},
     * which is what transformers installs as the {@code tojson} filter of chat templates.
     *
     * @param indent null for one line; else the string put once per nesting level
     * @param separators null for the defaults ({@code ", "} and {@code ": "} on one line, {@code ","}
     *     and {@code ": "} with an indent); else {item separator, key separator}
     */
    static String json(Object value, boolean ensureAscii, String indent, String[] separators, boolean sortKeys) {
        String itemSep;
        String keySep;
        if (separators != null) {
            itemSep = separators[0];
            keySep = separators[1];
        } else {
            itemSep = indent == null ? ", " : ",";
            keySep = ": ";
        }
        StringBuilder out = new StringBuilder();
        new JsonWriter(out, ensureAscii, indent, itemSep, keySep, sortKeys).write(value, 0);
        return out.toString();
    }

    private record JsonWriter(StringBuilder out, boolean ensureAscii, String indent, String itemSep,
            String keySep, boolean sortKeys) {

        void write(Object value, int level) {
            if (level > 100) {
                throw new PyError("tojson: value nested too deeply (a list or dict that contains itself?)");
            }
            if (value == null) {
                out.append("null");
            } else if (value instanceof Boolean b) {
                out.append(b ? "true" : "false");
            } else if (value instanceof Double || value instanceof Float || value instanceof BigDecimal) {
                double d = ((Number) value).doubleValue();
                if (Double.isNaN(d)) {
                    out.append("NaN");
                } else if (Double.isInfinite(d)) {
                    out.append(d > 0 ? "Infinity" : "-Infinity");
                } else {
                    out.append(floatRepr(d));
                }
            } else if (value instanceof Number n) {
                out.append(n);
            } else if (value instanceof String || value instanceof SafeString || value instanceof Character) {
                string(value.toString());
            } else if (value instanceof Map<?, ?> map) {
                writeMap(map, level);
            } else if (value instanceof Collection<?> || value instanceof Object[]) {
                writeList(iterable(value), level);
            } else {
                throw new PyError("tojson: Object of type " + typeName(value) + " is not JSON serializable");
            }
        }

        private void writeList(Iterable<?> items, int level) {
            Iterator<?> it = items.iterator();
            if (!it.hasNext()) {
                out.append("[]");
                return;
            }
            out.append('[');
            String newline = newline(level + 1);
            out.append(newline);
            boolean first = true;
            while (it.hasNext()) {
                if (!first) {
                    out.append(itemSep).append(newline);
                }
                first = false;
                write(it.next(), level + 1);
            }
            out.append(newline(level)).append(']');
        }

        private void writeMap(Map<?, ?> map, int level) {
            if (map.isEmpty()) {
                out.append("{}");
                return;
            }
            Map<String, Object> entries = sortKeys ? new TreeMap<>() : new java.util.LinkedHashMap<>();
            for (Map.Entry<?, ?> e : map.entrySet()) {
                entries.put(key(e.getKey()), e.getValue());
            }
            out.append('{');
            String newline = newline(level + 1);
            out.append(newline);
            boolean first = true;
            for (Map.Entry<String, Object> e : entries.entrySet()) {
                if (!first) {
                    out.append(itemSep).append(newline);
                }
                first = false;
                string(e.getKey());
                out.append(keySep);
                write(e.getValue(), level + 1);
            }
            out.append(newline(level)).append('}');
        }

        private static String key(Object key) {
            if (key instanceof String s) {
                return s;
            }
            if (key == null) {
                return "null";
            }
            if (key instanceof Boolean b) {
                return b ? "true" : "false";
            }
            if (key instanceof Number n) {
                return number(n);
            }
            if (key instanceof SafeString || key instanceof Character) {
                return key.toString();
            }
            throw new PyError("tojson: keys must be str, int, float, bool or None, not " + typeName(key));
        }

        private String newline(int level) {
            return indent == null ? "" : "\n" + indent.repeat(level);
        }

        private void string(String s) {
            out.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    case '\b' -> out.append("\\b");
                    case '\f' -> out.append("\\f");
                    default -> {
                        if (c < 0x20 || (ensureAscii && c > 0x7e)) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                    }
                }
            }
            out.append('"');
        }
    }
}
