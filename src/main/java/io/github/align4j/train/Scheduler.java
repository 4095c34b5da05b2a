package io.github.align4j.train;

import java.util.Locale;

/** {@code lr_scheduler_type}: the learning rate after warmup, as transformers' schedulers. */
public enum Scheduler {
    /** Cosine decay to 0 ({@code cosine}, the handbook's choice). */
    COSINE,
    /** Linear decay to 0 ({@code linear}). */
    LINEAR,
    /** The peak rate throughout ({@code constant}). */
    CONSTANT,
    /** The peak rate after warmup ({@code constant_with_warmup}; warmup applies to every type here). */
    CONSTANT_WITH_WARMUP;

    /** The recipe's name, e.g. {@code cosine}. */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The type named by a recipe's value, or null when none is. */
    static Scheduler of(String name) {
        for (Scheduler s : values()) {
            if (s.key().equals(name.trim().toLowerCase(Locale.ROOT))) {
                return s;
            }
        }
        return null;
    }
}
