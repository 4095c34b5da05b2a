package io.github.align4j.cli;

import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@code align4j train}'s LoRA, precision and recomputation flags (TRL's {@code ModelConfig} names:
 * use_peft, lora_r, lora_alpha, lora_dropout, lora_target_modules, use_rslora, torch_dtype;
 * gradient_checkpointing). The library's {@code PreferenceRun} loads the policy for them.
 */
final class LoraFlags {
    @Option(names = "--use-peft", arity = "0..1", fallbackValue = "true", paramLabel = "true|false",
            description = "Train LoRA adapters on a frozen base instead of every weight; the reference is the base with "
                    + "the adapters off (no second copy). OUTPUT/checkpoint-*/ and final/ hold PEFT adapter files.")
    Boolean usePeft;
    @Option(names = "--lora-r", paramLabel = "R", description = "LoRA rank (default 16).")
    Integer loraR;
    @Option(names = "--lora-alpha", paramLabel = "A", description = "lora_alpha: updates are scaled by alpha/r (default 32).")
    Double loraAlpha;
    @Option(names = "--lora-dropout", paramLabel = "P", description = "Dropout on the adapters' input while training (default 0.05).")
    Double loraDropout;
    @Option(names = "--lora-target-modules", paramLabel = "M,...", description = "Projections to adapt, e.g. "
            + "q_proj,k_proj,v_proj,o_proj or all-linear (default: PEFT's for the family: q_proj,v_proj; GPT-2 c_attn).")
    String loraTargetModules;
    @Option(names = "--use-rslora", arity = "0..1", fallbackValue = "true", paramLabel = "true|false",
            description = "Rank-stabilised scaling alpha/sqrt(r).")
    Boolean useRslora;
    @Option(names = "--torch-dtype", paramLabel = "float32|float16|auto", description = "Precision of the frozen weights "
            + "(the LoRA base, the reference): float16 halves their memory; auto keeps the checkpoint's; bfloat16 is "
            + "held as float16 (default float32). Trainable weights, optimizer state, logits and losses stay float32.")
    String torchDtype;
    @Option(names = "--gradient-checkpointing", arity = "0..1", fallbackValue = "true", paramLabel = "true|false",
            description = "Keep only each decoder layer's input in the forward pass and recompute the layer in the "
                    + "backward pass: less memory, about one more forward pass of time.")
    Boolean gradientCheckpointing;

    /** The given flags under their TrainConfig keys. */
    void putInto(Map<String, Object> m) {
        put(m, "use_peft", usePeft);
        put(m, "lora_r", loraR);
        put(m, "lora_alpha", loraAlpha);
        put(m, "lora_dropout", loraDropout);
        put(m, "lora_target_modules", loraTargetModules);
        put(m, "use_rslora", useRslora);
        put(m, "torch_dtype", torchDtype);
        put(m, "gradient_checkpointing", gradientCheckpointing);
    }

    private static void put(Map<String, Object> m, String key, Object v) {
        if (v != null) {
            m.put(key, v);
        }
    }
}
