package io.github.align4j.train;

import java.util.Locale;

/**
 * {@code device}: where the run computes. {@link Kind#AUTO} takes the first GPU when one is usable,
 * else the CPU; a GPU may be named by index ({@code gpu:1}; {@code cuda} is accepted for {@code gpu}).
 *
 * @param index the GPU's index, or -1 when none is named
 */
public record DeviceSpec(Kind kind, int index) {
    /** The three choices. */
    public enum Kind { AUTO, CPU, GPU }

    public DeviceSpec {
        if (kind == null || (kind != Kind.GPU && index != -1) || index < -1) {
            throw new IllegalArgumentException("device: only a GPU takes an index, and it is ≥ 0");
        }
    }

    public static DeviceSpec auto() {
        return new DeviceSpec(Kind.AUTO, -1);
    }

    public static DeviceSpec cpu() {
        return new DeviceSpec(Kind.CPU, -1);
    }

    /** The first GPU. */
    public static DeviceSpec gpu() {
        return new DeviceSpec(Kind.GPU, -1);
    }

    /** The {@code index}-th GPU. */
    public static DeviceSpec gpu(int index) {
        return new DeviceSpec(Kind.GPU, index);
    }

    /** The device a recipe's value names, or null when it names none. */
    static DeviceSpec of(String name) {
        String s = name.trim().toLowerCase(Locale.ROOT);
        switch (s) {
            case "auto":
                return auto();
            case "cpu":
                return cpu();
            case "gpu":
            case "cuda":
                return gpu();
            default:
                if (s.matches("(gpu|cuda):\\d{1,4}")) {
                    return gpu(Integer.parseInt(s.substring(s.indexOf(':') + 1)));
                }
                return null;
        }
    }

    /** The recipe's spelling: {@code auto}, {@code cpu}, {@code gpu} or {@code gpu:N}. */
    @Override
    public String toString() {
        return kind.name().toLowerCase(Locale.ROOT) + (index >= 0 ? ":" + index : "");
    }
}
