package io.github.align4j.train;

import io.github.align4j.model.LoraConfig;
import java.util.List;

/**
 * PEFT's LoRA settings ({@code use_peft} and the {@code lora_*} keys).
 *
 * @param enabled {@code use_peft}: train adapters on a frozen base
 * @param targetModules {@code lora_target_modules} (empty: the family's default, as PEFT's)
 */
public record LoraSpec(boolean enabled, int r, double alpha, double dropout, List<String> targetModules,
        boolean useRslora) {
    public LoraSpec {
        targetModules = List.copyOf(targetModules);
    }

    /** The adapters to add, or null when {@code use_peft} is false. */
    public LoraConfig adapters() {
        return enabled ? new LoraConfig(r, alpha, dropout, targetModules, useRslora) : null;
    }
}
