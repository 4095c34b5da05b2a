package io.github.align4j.model.internal;

import java.util.Locale;

/**
 * One of the model's process-wide switches, read where it is used: the system property, else the environment
 * variable (child processes inherit it), trimmed and lower-cased.
 *
 * @param value the setting, or null when neither is set
 * @param from the name it was read from, for a refusal to name
 */
record Setting(String value, String from) {
    static Setting read(String property, String env) {
        String v = System.getProperty(property);
        String from = property;
        if (v == null || v.isBlank()) {
            v = System.getenv(env);
            from = env;
        }
        return new Setting(v == null || v.isBlank() ? null : v.trim().toLowerCase(Locale.ROOT), from);
    }

    /** The refusal of a value that is none of {@code allowed}. */
    IllegalArgumentException refused(String allowed, String raw) {
        return new IllegalArgumentException(from + " must be " + allowed + ", got '" + raw + "'");
    }
}
