package io.github.align4j.train;

import java.util.Locale;

/**
 * {@code torch_dtype}: the type the frozen weights are held in (a LoRA base, the reference, scoring).
 * Trained weights are always float32.
 */
public enum TorchDtype {
    FLOAT32,
    FLOAT16,
    /** The checkpoint's own type: half precision stays half (bfloat16 is held as float16). */
    AUTO,
    /** Held as float16: bfloat16 tensors are never created on this engine. */
    BFLOAT16;

    /** The recipe's name, e.g. {@code float16}. */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The type named by a recipe's value, or null when none is. */
    static TorchDtype of(String name) {
        for (TorchDtype t : values()) {
            if (t.key().equals(name.trim().toLowerCase(Locale.ROOT))) {
                return t;
            }
        }
        return null;
    }
}
