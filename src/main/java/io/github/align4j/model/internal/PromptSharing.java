package io.github.align4j.model.internal;

import io.github.align4j.model.ModelConfig;

/**
 * Whether a scoring pass runs a pair's shared prompt once: a chosen and a rejected sequence with the same
 * prompt become one row {@code [prompt | chosen | rejected]} whose rejected tokens do not see the chosen ones
 * (the same log-probs; the prompt's layers run once instead of twice). The system property
 * {@code align4j.shared_prompts} or the environment variable {@code ALIGN4J_SHARED_PROMPTS} (the property
 * wins): {@code auto} (default: share when it is less work, {@link #cheaper}), {@code on} (wherever a pair's
 * prompt is the same) or {@code off}.
 */
public final class PromptSharing {
    /** The system property. */
    public static final String PROPERTY = "align4j.shared_prompts";
    /** The same as an environment variable (child processes inherit it). */
    public static final String ENV = "ALIGN4J_SHARED_PROMPTS";

    private PromptSharing() {}

    /** The setting's values: share where it is less work, wherever a pair's prompt is the same, never. */
    public enum Mode { AUTO, ON, OFF }

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
            case "on" -> Mode.ON;
            case "off" -> Mode.OFF;
            default -> throw s.refused("auto, on or off", s.value());
        };
    }

    /**
     * Whether pairs laid out as {@code packedRows} rows of {@code packedLength} tokens (instead of {@code rows} of
     * {@code length}) share their prompts under {@code mode}: always ({@code ON}), never ({@code OFF}), or where
     * it is {@link #cheaper} ({@code AUTO}).
     */
    public static boolean shares(Mode mode, ModelConfig c, long packedRows, long packedLength, long rows, long length,
            boolean gpu) {
        return mode == Mode.ON || mode == Mode.AUTO && cheaper(c, packedRows, packedLength, rows, length, gpu);
    }

    /**
     * Whether {@code packedRows} rows of {@code packedLength} tokens are less forward work than
     * {@code rows} rows of {@code length} tokens: Σ over a layer of 2·in·out a token (its projections) plus
     * 4·H·D a query and key that attention computes. Packed rows compute their whole square (their mask is
     * not causal); one row a sequence computes half of it where the fused causal kernel runs (it skips the
     * blocks above the diagonal), the whole square materialized. The head is the same either way (it runs on
     * the scored positions only). Measured on bench-medium's shape (docs/performance.md, "Shared prompts"),
     * the time of a step's model work followed this count (0.82, 0.97 and 0.98 of the separate rows' forward FLOPs,
     * head included): 0.82×
     * at 8 pairs × (64 + 64), 0.96–0.98× at 2 × (128 + 256), 0.97–1.04× at 1 × (512 + 512), where attention is a
     * large part of a 512-wide model's work.
     *
     * @param gpu whether the pass runs on a GPU (where attention is fused at any length)
     */
    public static boolean cheaper(ModelConfig c, long packedRows, long packedLength, long rows, long length, boolean gpu) {
        double causal = FusedAttentionSwitch.fusedFor(length, gpu) ? 0.5 : 1;
        return layerFlops(c, packedRows, packedLength, 1) < layerFlops(c, rows, length, causal);
    }

    /**
     * The forward FLOPs of one decoder layer over {@code rows} rows of {@code length} tokens.
     *
     * @param square the share of the length × length square attention computes
     */
    static double layerFlops(ModelConfig c, long rows, long length, double square) {
        long e = c.hiddenSize();
        long i = c.intermediateSize();
        double perToken;
        double headWidth;
        if (c.isGpt2()) {
            perToken = 2.0 * (e * 3 * e + e * e + 2 * e * i);
            headWidth = e;
        } else {
            long q = (long) c.numHeads() * c.headDim();
            long kv = (long) c.numKvHeads() * c.headDim();
            perToken = 2.0 * (e * q + 2 * e * kv + q * e + 3 * e * i);
            headWidth = q;
        }
        return rows * (double) length * perToken + square * 4.0 * rows * (double) length * length * headWidth;
    }
}
