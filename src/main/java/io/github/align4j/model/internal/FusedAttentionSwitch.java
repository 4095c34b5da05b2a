package io.github.align4j.model.internal;

import java.util.Locale;

/**
 * Whether a full causal pass runs attention as one fused libtorch kernel (the model's default) or as
 * softmax(q·kᵀ + mask)·v materialized, and so whether the memory planner counts [B, H, T, T] scores:
 * the system property {@code align4j.attention} or the environment variable {@code ALIGN4J_ATTENTION},
 * {@code fused} (default) or {@code materialized}; the property wins.
 */
public final class FusedAttentionSwitch {
    /** The system property. */
    public static final String PROPERTY = "align4j.attention";
    /** The same as an environment variable (child processes inherit it). */
    public static final String ENV = "ALIGN4J_ATTENTION";

    private FusedAttentionSwitch() {}

    /**
     * @return true unless the override says {@code materialized}
     * @throws IllegalArgumentException naming the setting when it is neither value
     */
    public static boolean fused() {
        String v = System.getProperty(PROPERTY);
        String from = PROPERTY;
        if (v == null || v.isBlank()) {
            v = System.getenv(ENV);
            from = ENV;
        }
        if (v == null || v.isBlank()) {
            return true;
        }
        return switch (v.trim().toLowerCase(Locale.ROOT)) {
            case "fused" -> true;
            case "materialized" -> false;
            default -> throw new IllegalArgumentException(from + " must be fused or materialized, got '" + v + "'");
        };
    }
}
