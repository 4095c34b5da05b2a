package io.github.align4j.cli;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.train.TrainConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@code align4j train}'s LoRA, precision and recomputation flags (TRL's {@code ModelConfig} names:
 * use_peft, lora_r, lora_alpha, lora_dropout, lora_target_modules, use_rslora, torch_dtype;
 * gradient_checkpointing), and how the policy is loaded for them.
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

    /**
     * The type the policy's weights are held in: torch_dtype for a LoRA base; float32 for full
     * fine-tuning, whose trainable weights always stay float32 (half-precision training would need fp32
     * master weights and loss scaling): there torch_dtype applies to the frozen reference only, as the
     * handbook's full recipes (torch_dtype: bfloat16) expect.
     */
    static DataType policyType(TrainConfig cfg, Path modelDir) {
        DataType t = TorchDtype.resolve(cfg.torchDtype(), modelDir, "torch_dtype (--torch-dtype)");
        return cfg.usePeft() ? t : DataType.FLOAT32;
    }

    /**
     * The precision a reference loaded from a folder (--ref-model, or the policy's folder in full
     * fine-tuning) is held in: torch_dtype, resolved against that folder.
     */
    static DataType referenceType(TrainConfig cfg, Path modelDir) {
        Path dir = cfg.refModelPath().isEmpty() ? modelDir : Path.of(cfg.refModelPath());
        return TorchDtype.resolve(cfg.torchDtype(), dir, "torch_dtype (--torch-dtype)");
    }

    /** Loads the policy: every weight trainable, or (use_peft) a frozen base in torch_dtype with new adapters. */
    static CausalLM loadPolicy(TrainConfig cfg, Path modelDir, Device device, PrintWriter out) {
        DataType t = policyType(cfg, modelDir);
        if (!cfg.usePeft()) {
            if (TorchDtype.resolve(cfg.torchDtype(), modelDir, "torch_dtype (--torch-dtype)") != DataType.FLOAT32) {
                out.println("note: full fine-tuning trains float32 weights; torch_dtype " + cfg.torchDtype()
                        + " applies to the frozen reference (add --use-peft for a half-precision base)");
            }
            return CausalLM.load(modelDir, CausalLM.Options.training().withDevice(device));
        }
        CausalLM lm = CausalLM.load(modelDir, new CausalLM.Options(device, false, t));
        try {
            lm.addAdapters(cfg.lora(), cfg.seed());
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
        out.println(summary(lm, t));
        return lm;
    }

    /** "LoRA r=16 alpha=32 on 154 projections (float16 base): 1,234,567 trainable of ... parameters (0.11%)". */
    static String summary(CausalLM lm, DataType base) {
        LoraConfig c = lm.adapterConfig();
        long trainable = 0;
        for (NDArray a : lm.trainableParameters().values()) {
            trainable += a.size();
        }
        long all = lm.parameterCount() + trainable;
        return String.format(Locale.ROOT, "LoRA r=%d alpha=%s%s%s on %d projections (%s base): %,d trainable of %,d "
                + "parameters (%.2f%%)", c.r(), num(c.alpha()), c.useRslora() ? " (rslora)" : "",
                c.dropout() > 0 ? " dropout=" + num(c.dropout()) : "", lm.adaptedModules().size(), TorchDtype.label(base),
                trainable, all, 100.0 * trainable / all);
    }

    /** The dry run's lines on LoRA, precision and recomputation. */
    static List<String> plan(TrainConfig cfg) {
        String dtype = cfg.torchDtype() + (cfg.torchDtype().equals("bfloat16") ? " (held as float16)"
                : cfg.torchDtype().equals("auto") ? " (the checkpoint's type; half is held as float16)" : "");
        String recompute = "recompute: " + (cfg.gradientCheckpointing() ? "on (each decoder layer recomputed in the backward pass)"
                : "off");
        if (!cfg.usePeft()) {
            return List.of("weights: full fine-tuning, every weight trainable in float32 (torch_dtype applies to the reference); reference: "
                    + (cfg.refModelPath().isEmpty() ? "a frozen copy of --model" : cfg.refModelPath()) + ", torch_dtype " + dtype,
                    recompute);
        }
        LoraConfig l = cfg.lora();
        return List.of(String.format(Locale.ROOT, "weights: LoRA r=%d, lora_alpha=%s (scaling %s%s), dropout %s, targets %s; "
                        + "frozen base in %s", l.r(), num(l.alpha()), num(l.scaling()), l.useRslora() ? ", rslora" : "",
                        num(l.dropout()), l.targetModules().isEmpty() ? "the family's default (q_proj,v_proj; GPT-2 c_attn)"
                        : String.join(",", l.targetModules()), dtype),
                "reference: " + (cfg.refModelPath().isEmpty() ? "the base with the adapters off (no second copy)"
                        : cfg.refModelPath()),
                recompute);
    }

    private static String num(double v) {
        return new java.math.BigDecimal(String.format(Locale.ROOT, "%.6g", v)).stripTrailingZeros().toPlainString();
    }
}
