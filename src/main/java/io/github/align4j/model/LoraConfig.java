package io.github.align4j.model;

import io.github.align4j.Align4jException;
import java.util.List;

/**
 * LoRA settings as PEFT's {@code LoraConfig} names them (Hu et al. 2021, "LoRA: Low-Rank Adaptation
 * of Large Language Models"): each targeted projection {@code y = x·Wᵀ} becomes
 * <pre>
 *   y = x·Wᵀ + scaling · dropout(x)·Aᵀ·Bᵀ      A [r, in], B [out, r]
 *   scaling = alpha / r        (use_rslora: alpha / √r, Kalajdzievski 2023)
 * </pre>
 * with W frozen, A Kaiming-uniform (a = √5) and B zero at the start, so the adapted model starts equal
 * to its base.
 *
 * <pre>{@code
 * LoraConfig lora = LoraConfig.defaults().withR(16).withAlpha(32).withTargetModules(List.of("all-linear"));
 * }</pre>
 *
 * @param r the rank (≥ 1)
 * @param alpha lora_alpha (> 0)
 * @param dropout lora_dropout on the adapter's input, while training only, in [0, 1)
 * @param targetModules module names ({@code q_proj}, {@code c_attn}, …), {@code all-linear} for every
 *     projection of the family (never the head), or empty for PEFT's default of the family
 *     ({@code q_proj, v_proj}; GPT-2 {@code c_attn})
 * @param useRslora rank-stabilised scaling
 */
public record LoraConfig(int r, double alpha, double dropout, List<String> targetModules, boolean useRslora) {
    /** Every projection of the model's family, as PEFT's {@code target_modules="all-linear"}. */
    public static final String ALL_LINEAR = "all-linear";

    public LoraConfig {
        if (r < 1) {
            throw new Align4jException("lora_r must be ≥ 1, got " + r);
        }
        if (!(alpha > 0) || !Double.isFinite(alpha)) {
            throw new Align4jException("lora_alpha must be > 0, got " + alpha);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new Align4jException("lora_dropout must be in [0, 1), got " + dropout);
        }
        targetModules = List.copyOf(targetModules == null ? List.of() : targetModules);
        for (String t : targetModules) {
            if (t == null || !t.matches("[A-Za-z0-9_.-]+")) {
                throw new Align4jException("lora_target_modules: '" + t + "' is not a module name (e.g. q_proj, c_attn, all-linear)");
            }
        }
    }

    /** TRL's ModelConfig defaults: r 16, alpha 32, dropout 0.05, the family's default targets, plain scaling. */
    public static LoraConfig defaults() {
        return new LoraConfig(16, 32, 0.05, List.of(), false);
    }

    /** The factor of the low-rank update: alpha/r, or alpha/√r with {@code use_rslora}. */
    public double scaling() {
        return useRslora ? alpha / Math.sqrt(r) : alpha / r;
    }

    public LoraConfig withR(int v) {
        return new LoraConfig(v, alpha, dropout, targetModules, useRslora);
    }

    public LoraConfig withAlpha(double v) {
        return new LoraConfig(r, v, dropout, targetModules, useRslora);
    }

    public LoraConfig withDropout(double v) {
        return new LoraConfig(r, alpha, v, targetModules, useRslora);
    }

    public LoraConfig withTargetModules(List<String> v) {
        return new LoraConfig(r, alpha, dropout, v, useRslora);
    }

    public LoraConfig withUseRslora(boolean v) {
        return new LoraConfig(r, alpha, dropout, targetModules, v);
    }
}
