package io.github.align4j.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.ModelConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** How a run's policy is loaded for its LoRA and precision settings, and how those settings are described. */
final class RunModels {
    private RunModels() {}

    /**
     * Every weight trainable (float32), or (use_peft) a frozen base held as {@code base} with new adapters. With a
     * shared reference in memory the policy is loaded on that reference's device.
     */
    static CausalLM loadPolicy(TrainConfig cfg, Path modelDir, Device device, DataType base, CausalLM sharedReference) {
        if (sharedReference != null) {
            device = sharedReference.device();
        }
        if (!cfg.lora().enabled()) {
            return CausalLM.load(modelDir, CausalLM.Options.training().withDevice(device));
        }
        CausalLM lm = CausalLM.load(modelDir, new CausalLM.Options(device, false, base));
        try {
            lm.addAdapters(cfg.lora().adapters(), cfg.optimization().seed());
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
        return lm;
    }

    /** LoRA's targets select projections of this model (checked without loading weights). */
    static void checkTargets(TrainConfig cfg, ModelConfig mc) {
        CausalLM.loraTargetCount(mc, cfg.lora().adapters());
    }

    static long trainable(CausalLM lm) {
        if (lm.adapterConfig() == null) {
            return 0;
        }
        long n = 0;
        for (NDArray a : lm.trainableParameters().values()) {
            n += a.size();
        }
        return n;
    }

    /** "every weight trainable" or "1,234 trainable (0.11%)". */
    static String trainableLabel(CausalLM lm) {
        long t = trainable(lm);
        if (t == 0) {
            return "every weight trainable";
        }
        long all = lm.parameterCount() + t;
        return String.format(Locale.ROOT, "%,d trainable (%.2f%%)", t, 100.0 * t / all);
    }

    /** "LoRA r=16 alpha=32 on 154 projections (float16 base): 1,234,567 trainable of ... parameters (0.11%)", or full fine-tuning's. */
    static String summary(CausalLM lm, DataType base) {
        LoraConfig c = lm.adapterConfig();
        if (c == null) {
            return String.format(Locale.ROOT, "full fine-tuning: %,d trainable parameters (float32)", lm.parameterCount());
        }
        long trainable = trainable(lm);
        long all = lm.parameterCount() + trainable;
        return String.format(Locale.ROOT, "LoRA r=%d alpha=%s%s%s on %d projections (%s base): %,d trainable of %,d "
                + "parameters (%.2f%%)", c.r(), num(c.alpha()), c.useRslora() ? " (rslora)" : "",
                c.dropout() > 0 ? " dropout=" + num(c.dropout()) : "", lm.adaptedModules().size(), label(base),
                trainable, all, 100.0 * trainable / all);
    }

    static String label(DataType t) {
        return t == DataType.FLOAT16 ? "float16" : "float32";
    }

    /** The plan's lines on LoRA, precision and recomputation. */
    static List<String> plan(TrainConfig cfg) {
        String dtype = cfg.model().torchDtype().key() + (cfg.model().torchDtype() == TorchDtype.BFLOAT16 ? " (held as float16)"
                : cfg.model().torchDtype() == TorchDtype.AUTO ? " (the checkpoint's type; half is held as float16)" : "");
        String recompute = "recompute: " + (cfg.model().gradientCheckpointing() ? "on (each decoder layer recomputed in the backward pass)"
                : "off");
        if (!cfg.lora().enabled()) {
            return List.of("weights: full fine-tuning, every weight trainable in float32 (torch_dtype applies to the reference); reference: "
                    + (cfg.reference().path().isEmpty() ? "a frozen copy of the model" : cfg.reference().path()) + ", torch_dtype " + dtype,
                    recompute);
        }
        LoraConfig l = cfg.lora().adapters();
        return List.of(String.format(Locale.ROOT, "weights: LoRA r=%d, lora_alpha=%s (scaling %s%s), dropout %s, targets %s; "
                        + "frozen base in %s", l.r(), num(l.alpha()), num(l.scaling()), l.useRslora() ? ", rslora" : "",
                        num(l.dropout()), l.targetModules().isEmpty() ? "the family's default (q_proj,v_proj; GPT-2 c_attn)"
                        : String.join(",", l.targetModules()), dtype),
                "reference: " + (cfg.reference().path().isEmpty() ? "the base with the adapters off (no second copy)"
                        : cfg.reference().path()),
                recompute);
    }

    private static String num(double v) {
        return new java.math.BigDecimal(String.format(Locale.ROOT, "%.6g", v)).stripTrailingZeros().toPlainString();
    }
}
