package io.github.align4j.data.template;

import com.hubspot.jinjava.el.ext.NamedParameter;
import com.hubspot.jinjava.objects.SafeString;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * The arguments of one call of a Python str method from {@link PyStrings}, positional and keyword,
 * checked against the method's parameters; each wrong count, name or type raises the
 * {@link PyError} Python would.
 */
final class PyArgs {
    final String method;
    final Object[] values;
    final boolean[] given;

    PyArgs(String method, Object[] args, String... names) {
        this.method = method;
        this.values = new Object[names.length];
        this.given = new boolean[names.length];
        int positional = 0;
        for (Object arg : args == null ? new Object[0] : args) {
            if (arg instanceof NamedParameter named) {
                int at = List.of(names).indexOf(named.getName());
                if (at < 0) {
                    throw new PyError("str." + method + "() got an unexpected keyword argument '"
                            + named.getName() + "'");
                }
                values[at] = named.getValue();
                given[at] = true;
            } else {
                if (positional >= names.length) {
                    throw new PyError("str." + method + "() takes at most " + names.length
                            + " argument" + (names.length == 1 ? "" : "s") + " ("
                            + (args.length) + " given)");
                }
                values[positional] = arg;
                given[positional] = true;
                positional++;
            }
        }
    }

    Object required(int i) {
        if (!given[i]) {
            throw new PyError("str." + method + "() is missing a required argument (" + (i + 1) + ")");
        }
        return values[i];
    }

    String requiredStr(int i) {
        Object v = required(i);
        return asStr(v, "str." + method + "() argument " + (i + 1) + " must be str, not "
                + PyObjects.typeName(v));
    }

    /** A str argument where None (or leaving it out) means {@code absent}. */
    String str(int i, String absent) {
        Object v = values[i];
        if (v == null) {
            return absent;
        }
        return asStr(v, "str." + method + "() argument " + (i + 1) + " must be str or None, not "
                + PyObjects.typeName(v));
    }

    Long optionalInteger(int i) {
        Object v = values[i];
        if (v == null) {
            return null;
        }
        if (v instanceof Number n && !(v instanceof Double) && !(v instanceof Float)) {
            return n.longValue();
        }
        if (v instanceof Boolean b) {
            return b ? 1L : 0L;
        }
        throw new PyError("str." + method + "() argument " + (i + 1) + " must be int or None, not "
                + PyObjects.typeName(v));
    }

    long integer(int i, long absent) {
        Long v = optionalInteger(i);
        return v == null ? absent : v;
    }

    long requiredInteger(int i) {
        required(i);
        Long v = optionalInteger(i);
        if (v == null) {
            throw new PyError("str." + method + "() argument " + (i + 1) + " must be int, not NoneType");
        }
        return v;
    }

    boolean truthy(int i, boolean absent) {
        Object v = values[i];
        if (!given[i]) {
            return absent;
        }
        if (v == null) {
            return false;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        if (v instanceof Number n) {
            return n.doubleValue() != 0;
        }
        if (v instanceof String s) {
            return !s.isEmpty();
        }
        if (v instanceof Collection<?> c) {
            return !c.isEmpty();
        }
        if (v instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        return true;
    }

    /** A str (jinjava's {@code SafeString} included) as a Java string; anything else raises {@code error}. */
    static String asStr(Object value, String error) {
        if (value instanceof String s) {
            return s;
        }
        if (value instanceof SafeString s) {
            return s.getValue();
        }
        throw new PyError(error);
    }
}
