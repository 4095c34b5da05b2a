package io.github.align4j.model.internal;

/**
 * Whether a full causal pass runs attention as one fused libtorch kernel or as softmax(q·kᵀ + mask)·v
 * materialized, and so whether the memory planner counts [B, H, T, T] scores. The system property
 * {@code align4j.attention} or the environment variable {@code ALIGN4J_ATTENTION} (the property wins):
 * {@code auto} (default), {@code fused} or {@code materialized}.
 *
 * <p>{@code auto} fuses on a GPU, and on the CPU from {@value #CPU_MIN_LENGTH} tokens a row: timed per call on
 * an Intel Xeon (docs/performance.md, "Fused attention"), libtorch's CPU flash-attention kernel was 1.5–3×
 * faster than the materialized path from 384 tokens (head sizes 16 and 64) and up to 1.9× slower below 320
 * (at short rows the T × T scores fit the caches and the kernel's blocks are small); a whole step at 128
 * tokens was within noise either way, and the demo's 64-token rows took 5% more CPU fused.
 */
public final class FusedAttentionSwitch {
    /** The system property. */
    public static final String PROPERTY = "align4j.attention";
    /** The same as an environment variable (child processes inherit it). */
    public static final String ENV = "ALIGN4J_ATTENTION";
    /** On the CPU, {@code auto} fuses passes of at least this many tokens a row. */
    public static final int CPU_MIN_LENGTH = 384;

    /** The setting's values. */
    public enum Mode { AUTO, FUSED, MATERIALIZED }

    private FusedAttentionSwitch() {}

    /**
     * @return the setting, {@code AUTO} when unset
     * @throws IllegalArgumentException naming the setting when it is none of its values
     */
    public static Mode mode() {
        Setting s = Setting.read(PROPERTY, ENV);
        if (s.value() == null) {
            return Mode.AUTO;
        }
        return switch (s.value()) {
            case "auto" -> Mode.AUTO;
            case "fused" -> Mode.FUSED;
            case "materialized" -> Mode.MATERIALIZED;
            default -> throw s.refused("auto, fused or materialized", s.value());
        };
    }

    /**
     * Whether a full causal pass of {@code length} tokens a row runs fused.
     *
     * @param gpu whether the pass runs on a GPU
     */
    public static boolean fusedFor(long length, boolean gpu) {
        return switch (mode()) {
            case FUSED -> true;
            case MATERIALIZED -> false;
            case AUTO -> gpu || length >= CPU_MIN_LENGTH;
        };
    }
}
