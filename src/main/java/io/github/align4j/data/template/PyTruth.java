package io.github.align4j.data.template;

import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.objects.SafeString;
import com.hubspot.jinjava.util.ObjectTruthValue;
import java.util.Collection;
import java.util.Map;

/**
 * Python's truth value: empty strings, collections and zero are false, everything else is true.
 * jinjava's own rule also takes the string "false" (any case) for false, which would drop a message
 * whose content is "False" from {@code {% if message.content %}}.
 */
final class PyTruth {
    private PyTruth() {}

    static boolean of(Object value) {
        if (value instanceof String s) {
            return !s.isEmpty();
        }
        if (value instanceof SafeString s) {
            return !s.getValue().isEmpty();
        }
        if (value instanceof Collection<?> c) {
            return !c.isEmpty();
        }
        if (value instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        return ObjectTruthValue.evaluate(value);
    }

    /** jinjava's EL type converter with Python's truth for booleans. */
    static final class Converter extends TruthyTypeConverter {
        private static final long serialVersionUID = 1L;

        @Override
        protected Boolean coerceToBoolean(Object value) {
            return of(value);
        }
    }
}
