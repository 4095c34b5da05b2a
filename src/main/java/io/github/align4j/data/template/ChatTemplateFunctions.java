package io.github.align4j.data.template;

import com.hubspot.jinjava.el.ext.NamedParameter;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import java.time.ZonedDateTime;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The globals and filters transformers adds to the jinja2 environment of chat templates: {@code
 * raise_exception(msg)}, {@code strftime_now(format)}, and its own {@code tojson}; plus jinja2's
 * {@code trim} and {@code string} filters with Python semantics (jinjava's trim strips Java
 * whitespace, its string filter prints {@code true}).
 */
final class ChatTemplateFunctions {
    private ChatTemplateFunctions() {}

    /** raise_exception(message): stops the render with the template's own message. */
    static Object raiseException(Object message) {
        throw new PyError(PyObjects.str(message), true);
    }

    /** jinja2's dict(key=value, ...): a dict of the keyword arguments. */
    static Object dict(Object... args) {
        Map<String, Object> dict = new LinkedHashMap<>();
        for (Object arg : args == null ? new Object[0] : args) {
            if (!(arg instanceof NamedParameter named)) {
                throw new PyError("dict() takes keyword arguments only here, e.g. dict(name=value)");
            }
            dict.put(named.getName(), named.getValue());
        }
        return dict;
    }

    /** jinja2's sandbox refuses ranges longer than this (jinja2.sandbox.MAX_RANGE). */
    static final long MAX_RANGE = 100_000;

    /**
     * Python's range(stop) / range(start, stop[, step]), refused past {@link #MAX_RANGE} items as
     * jinja2's sandbox does (jinjava's own range silently stops at its limit).
     */
    static Object range(Object... args) {
        if (args == null || args.length < 1 || args.length > 3) {
            throw new PyError("range expected 1 to 3 arguments, got " + (args == null ? 0 : args.length));
        }
        long[] n = new long[args.length];
        for (int i = 0; i < args.length; i++) {
            n[i] = rangeInteger(args[i]);
        }
        long start = args.length == 1 ? 0 : n[0];
        long stop = args.length == 1 ? n[0] : n[1];
        long step = args.length == 3 ? n[2] : 1;
        if (step == 0) {
            throw new PyError("range() arg 3 must not be zero");
        }
        java.math.BigInteger span = java.math.BigInteger.valueOf(stop).subtract(java.math.BigInteger.valueOf(start));
        java.math.BigInteger s = java.math.BigInteger.valueOf(step);
        java.math.BigInteger count = span.signum() == 0 || span.signum() != s.signum() ? java.math.BigInteger.ZERO
                : span.abs().add(s.abs()).subtract(java.math.BigInteger.ONE).divide(s.abs());
        if (count.compareTo(java.math.BigInteger.valueOf(MAX_RANGE)) > 0) {
            throw new PyError("OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE ("
                    + MAX_RANGE + ").");
        }
        java.util.List<Object> items = new java.util.ArrayList<>(count.intValue());
        for (long i = 0, v = start; i < count.longValue(); i++, v += step) {
            items.add(v);
        }
        return java.util.Collections.unmodifiableList(items);
    }

    private static long rangeInteger(Object value) {
        if (value instanceof Boolean b) {
            return b ? 1 : 0;
        }
        if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
            return ((Number) value).longValue();
        }
        if (value instanceof java.math.BigInteger big) {
            if (big.bitLength() < 63) {
                return big.longValue();
            }
            throw new PyError("OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE ("
                    + MAX_RANGE + ").");
        }
        if (value instanceof Number d && d.doubleValue() == Math.rint(d.doubleValue())
                && Math.abs(d.doubleValue()) < 0x1p62) {
            return (long) d.doubleValue(); // jinjava computes 10**9 as a float; Python has an int
        }
        throw new PyError("'" + PyObjects.typeName(value) + "' object cannot be interpreted as an integer");
    }

    /** strftime_now(format): the local date and time, as Python's datetime.now().strftime(format). */
    static String strftimeNow(Object format) {
        if (!(format instanceof String f)) {
            throw new PyError("strftime_now() argument must be str, not " + PyObjects.typeName(format));
        }
        return StrftimeFormatter.format(ZonedDateTime.now(), f, Locale.ENGLISH);
    }

    /**
     * Python's binding of a filter's positional and keyword arguments to its parameter names: at most
     * names.length positional ones, keywords by name, the rest null.
     */
    static Object[] bind(String fn, String[] names, Object[] args, Map<String, Object> kwargs) {
        Object[] values = new Object[names.length];
        if (args != null) {
            if (args.length > names.length) {
                throw new PyError(fn + "() takes at most " + names.length + " arguments (" + args.length + " given)");
            }
            System.arraycopy(args, 0, values, 0, args.length);
        }
        for (Map.Entry<String, Object> e : kwargs.entrySet()) {
            int at = java.util.List.of(names).indexOf(e.getKey());
            if (at < 0) {
                throw new PyError(fn + "() got an unexpected keyword argument '" + e.getKey() + "'");
            }
            values[at] = e.getValue();
        }
        return values;
    }

    /**
     * transformers' tojson: {@code json.dumps(x, ensure_ascii=False, indent=None, separators=None,
     * sort_keys=False)}, so non-ASCII text stays as it is and the separators are {@code ", "} and
     * {@code ": "}.
     */
    static final class ToJson implements Filter {
        private static final String[] NAMES = {"ensure_ascii", "indent", "separators", "sort_keys"};

        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object[] values = bind("tojson", NAMES, args, kwargs);
            boolean ensureAscii = PyTruth.of(values[0]);
            String indent = null;
            if (values[1] instanceof Number n) {
                indent = " ".repeat((int) Math.max(0, n.longValue()));
            } else if (values[1] instanceof String s) {
                indent = s;
            } else if (values[1] != null) {
                throw new PyError("tojson: indent must be an int, a str or None, not " + PyObjects.typeName(values[1]));
            }
            String[] separators = null;
            if (values[2] != null) {
                if (!(values[2] instanceof Collection<?> c) || c.size() != 2
                        || !c.stream().allMatch(x -> x instanceof String)) {
                    throw new PyError("tojson: separators must be a pair of strings, e.g. (',', ':')");
                }
                separators = c.stream().map(Object::toString).toArray(String[]::new);
            }
            return PyObjects.json(var, ensureAscii, indent, separators, PyTruth.of(values[3]));
        }

    }

    /** jinja2's trim(value, chars=None): Python's str.strip. */
    static final class Trim implements Filter {
        @Override
        public String getName() {
            return "trim";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            if (args != null && args.length > 1) {
                throw new PyError("trim() takes at most 1 argument (" + args.length + " given)");
            }
            String chars = args == null || args.length == 0 ? null : args[0];
            return PyStripPad.strip(PyObjects.str(var), chars, true, true);
        }
    }

    /**
     * jinja2's sort(value, reverse=False, case_sensitive=False, attribute=None); jinjava's ignores
     * keyword arguments. Stable, like Python's sorted.
     */
    static final class Sort implements Filter {
        private static final String[] NAMES = {"reverse", "case_sensitive", "attribute"};

        @Override
        public String getName() {
            return "sort";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object[] values = bind("sort", NAMES, args, kwargs);
            boolean reverse = PyTruth.of(values[0]);
            boolean caseSensitive = PyTruth.of(values[1]);
            String attribute = values[2] == null ? null : PyObjects.str(values[2]);
            java.util.List<Object> items = new java.util.ArrayList<>();
            PyObjects.iterable(var).forEach(items::add);
            java.util.Comparator<Object> order = (a, b) -> compare(key(a, attribute, caseSensitive, interpreter),
                    key(b, attribute, caseSensitive, interpreter));
            items.sort(reverse ? order.reversed() : order);
            return items;
        }

        private static Object key(Object item, String attribute, boolean caseSensitive, JinjavaInterpreter interpreter) {
            Object value = item;
            if (attribute != null) {
                for (String part : attribute.split("\\.")) {
                    value = value instanceof Map<?, ?> map ? map.get(part) : interpreter.resolveProperty(value, part);
                }
            }
            return !caseSensitive && value instanceof String s ? s.toLowerCase(Locale.ROOT) : value;
        }

        private static int compare(Object a, Object b) {
            if (a instanceof Number x && b instanceof Number y) {
                return Double.compare(x.doubleValue(), y.doubleValue());
            }
            if (a instanceof Boolean x && b instanceof Boolean y) {
                return Boolean.compare(x, y);
            }
            if (a instanceof String x && b instanceof String y) {
                return x.compareTo(y);
            }
            throw new PyError("sort: '<' not supported between instances of '" + PyObjects.typeName(a)
                    + "' and '" + PyObjects.typeName(b) + "'");
        }
    }

    /** jinja2's string filter: Python's str(), so True prints as True. */
    static final class Str implements Filter {
        @Override
        public String getName() {
            return "string";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return PyObjects.str(var);
        }
    }
}
