package io.github.align4j.train;

import ai.djl.Device;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.ModelConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The estimated peak memory of a preference-training run, before anything is loaded: frozen
 * weights, trainable weights, their gradients and AdamW state, what autograd keeps for the backward
 * pass, the logits, the reference, the allocator's slack and the runtime, against the memory the
 * device has free; and, when it does not fit, the settings that would make it fit.
 *
 * <pre>{@code
 * MemoryPlan plan = MemoryPlan.builder(ModelConfig.load(dir))
 *         .pairs(4).tokens(512, 256)
 *         .lora(LoraConfig.defaults().withTargetModules(List.of("all-linear")))
 *         .frozenDtype(MemoryPlan.Dtype.FLOAT16).gradientCheckpointing(true)
 *         .build();
 * if (!plan.fits()) {
 *     System.err.println(plan.format()); // the breakdown and what would fit
 * }
 * }</pre>
 *
 * <p>{@link #of(TrainConfig, ModelConfig, Device)} reads the settings from a recipe. The terms and
 * the measurements behind them are in docs/performance.md ("Memory planner").
 */
public final class MemoryPlan {
    /** Where the reference's log-probabilities come from, as far as memory goes. */
    public enum Reference {
        /** The policy's own frozen base with its LoRA adapters switched off: no second copy. */
        ADAPTERS_OFF("the base with the adapters off"),
        /** A second model loaded from a folder, frozen, with the frozen weights' precision. */
        SEPARATE("a separate frozen model"),
        /** A float32 copy of the policy's weights (a policy that was not loaded from a folder). */
        FROZEN_COPY("a frozen float32 copy of the policy"),
        /** precompute_ref_log_probs: scored before training, no reference weights while training. */
        PRECOMPUTED("precomputed log-probs"),
        /** The loss needs no reference (SimPO, SFT). */
        NONE("none");

        private final String text;

        Reference(String text) {
            this.text = text;
        }

        @Override
        public String toString() {
            return text;
        }
    }

    /** The precision frozen weights are held in (trainable weights, gradients and AdamW state are always float32). */
    public enum Dtype {
        FLOAT32(4), FLOAT16(2);

        final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }

        /** torch_dtype as a recipe spells it: float32; float16 and bfloat16 (held as float16); auto (the checkpoint's: half stays half). */
        public static Dtype of(String torchDtype, ModelConfig model) {
            String s = torchDtype == null ? "float32" : torchDtype.toLowerCase(Locale.ROOT);
            if (s.equals("auto")) {
                var j = model.json() == null ? null : model.json().get("torch_dtype");
                s = j == null ? "float32" : j.asText().toLowerCase(Locale.ROOT);
            }
            return s.equals("float16") || s.equals("bfloat16") || s.equals("half") ? FLOAT16 : FLOAT32;
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * The estimate, in bytes.
     *
     * @param frozenWeights the base under LoRA (none for full fine-tuning)
     * @param trainableWeights the adapters' A and B, or every weight of full fine-tuning (float32)
     * @param gradients one float32 gradient per trainable weight
     * @param optimizerState AdamW's m and v, float32
     * @param activations what autograd keeps for the backward pass at the step's peak (float32 on
     *     the CPU), with the mask
     * @param convertedWeights float32 copies of float16 weights that autograd keeps for the
     *     backward pass (float16 storage on the CPU computes in float32, one weight at a time)
     * @param logits [completion positions, vocabulary] float32: logits, log-softmax and its gradient
     * @param reference the reference's weights while training
     * @param allocatorSlack freed memory the allocator keeps rather than returning it (measured)
     * @param overhead the JVM, libtorch and the rest of the process (measured with a tiny model)
     */
    public record Breakdown(long frozenWeights, long trainableWeights, long gradients, long optimizerState,
            long activations, long convertedWeights, long logits, long reference, long allocatorSlack, long overhead) {
        /** The sum: the estimated peak. */
        public long total() {
            return frozenWeights + trainableWeights + gradients + optimizerState + activations + convertedWeights + logits
                    + reference + allocatorSlack + overhead;
        }
    }

    /**
     * A change of settings that would make the run fit.
     *
     * @param setting the recipe keys and flags, e.g. "gradient_checkpointing: true (--gradient-checkpointing)"
     * @param total the estimated peak with it
     */
    public record Suggestion(String setting, long total) {}

    private final MemoryEstimate.Settings settings;
    private final Breakdown breakdown;

    MemoryPlan(MemoryEstimate.Settings s) {
        this.settings = s;
        this.breakdown = MemoryEstimate.estimate(s);
    }

    public static Builder builder(ModelConfig model) {
        return new Builder(model);
    }

    /**
     * The plan of a recipe: {@code per_device_train_batch_size} pairs (examples for KTO) of
     * {@code max_length} tokens, all but one of them scored (the worst case truncation allows; give
     * the data's own lengths with {@link Builder#tokens(int, int)} for a closer figure), use_peft and
     * the lora_* keys, torch_dtype, gradient_checkpointing, precompute_ref_log_probs and ref_model
     * (whose config.json is read).
     */
    public static MemoryPlan of(TrainConfig cfg, ModelConfig model, Device device) {
        return from(cfg, model, device).build();
    }

    /** {@link #of} as a builder, to change the shape or the available memory before building. */
    public static Builder from(TrainConfig cfg, ModelConfig model, Device device) {
        Builder b = builder(model).device(device).tokens(cfg.data().maxLength(), cfg.data().maxLength() - 1)
                .frozenDtype(Dtype.of(cfg.model().torchDtype().key(), model)).gradientCheckpointing(cfg.model().gradientCheckpointing())
                .loraOption(new LoraSpec(true, cfg.lora().r(), cfg.lora().alpha(), cfg.lora().dropout(), cfg.lora().targetModules(), cfg.lora().useRslora()).adapters());
        io.github.align4j.loss.PreferenceLoss loss = cfg.loss();
        boolean paired = loss.dataKind() == io.github.align4j.loss.PreferenceLoss.DataKind.PAIRED;
        if (paired) {
            b.pairs(cfg.optimization().batchSize());
        } else {
            b.sequences(cfg.optimization().batchSize());
        }
        if (cfg.lora().enabled()) {
            b.lora(cfg.lora().adapters());
        }
        String ref = cfg.reference().path();
        if (ref != null && !ref.isEmpty()) {
            b.referenceModel(ModelConfig.load(java.nio.file.Path.of(ref)));
        }
        Reference kind = !loss.needsReference() ? Reference.NONE
                : cfg.reference().precompute() ? Reference.PRECOMPUTED
                : cfg.lora().enabled() && (ref == null || ref.isEmpty()) ? Reference.ADAPTERS_OFF
                : Reference.SEPARATE;
        return b.reference(kind);
    }

    /** The estimate, term by term. */
    public Breakdown breakdown() {
        return breakdown;
    }

    /** The estimated peak in bytes. */
    public long total() {
        return breakdown.total();
    }

    /** The memory the device has for this run in bytes (CPU: available RAM; GPU: free memory), or -1 when unknown. */
    public long available() {
        return settings.available();
    }

    /**
     * What the estimate cannot promise, or "" when it is a forecast: on a GPU the caching allocator's share and
     * the CUDA context are assumed, not measured (no GPU was available to calibrate them). On the CPU the
     * estimate is calibrated against measured peaks, with and without gradient checkpointing
     * (docs/performance.md).
     */
    public String caveat() {
        return settings.gpu()
                ? "on a GPU the allocator's share (20%) and the CUDA context (600 MiB) are assumed, not measured"
                : "";
    }

    /** Whether the estimate is at most the available memory (true when that is unknown). */
    public boolean fits() {
        return settings.available() < 0 || total() <= settings.available();
    }

    /**
     * Settings that would make a plan that does not fit fit, each with its estimate: first single
     * changes (LoRA, float16 frozen weights, gradient checkpointing, a precomputed reference, the
     * largest batch or max_length that fits), then, when no single change is enough, the fewest of
     * them together. Empty when the plan fits or nothing would.
     */
    public List<Suggestion> suggestions() {
        return fits() ? List.of() : MemoryEstimate.suggestions(settings);
    }

    /** A readable table: the shape, the breakdown in GiB, total, available, whether it fits and what would. */
    public String format() {
        String f = MemoryEstimate.format(settings, breakdown, fits(), suggestions());
        return caveat().isEmpty() ? f : f + "  note: " + caveat() + "\n";
    }

    @Override
    public String toString() {
        return format();
    }

    /**
     * The trainer's check before its first step: the plan of the loaded policy (LoRA settings and
     * the base's precision read from it), the training data's longest sequence and completion, the
     * micro-batch and the reference as the trainer will hold it. The policy's weights, a given
     * reference's and the running process are already in memory: they count as held, not needed.
     *
     * @throws Align4jException with the breakdown and the settings that would fit, when it does not fit
     */
    static void beforeTraining(TrainConfig cfg, CausalLM policy, CausalLM givenRef, Path refPath, boolean needsReference,
            List<TokenizedPair> pairs, List<TokenizedUnpaired> unpaired) {
        int longest = 1;
        int completion = 1;
        for (TokenizedPair p : pairs == null ? List.<TokenizedPair>of() : pairs) {
            int c = Math.max(p.chosen().length, p.rejected().length);
            longest = Math.max(longest, p.prompt().length + c);
            completion = Math.max(completion, c);
        }
        for (TokenizedUnpaired u : unpaired == null ? List.<TokenizedUnpaired>of() : unpaired) {
            longest = Math.max(longest, u.prompt().length + u.completion().length);
            completion = Math.max(completion, u.completion().length);
        }
        ModelConfig model = policy.config();
        Builder b = builder(model).device(policy.device()).tokens(longest, Math.min(completion, longest))
                .gradientCheckpointing(cfg.model().gradientCheckpointing()).lora(policy.adapterConfig());
        if (pairs != null) {
            b.pairs(cfg.optimization().batchSize());
        } else {
            b.sequences(cfg.optimization().batchSize());
        }
        CausalLM frozen = policy.adapterConfig() != null ? policy : givenRef;
        b.frozenDtype(frozen != null ? (half(frozen) ? Dtype.FLOAT16 : Dtype.FLOAT32) : Dtype.of(cfg.model().torchDtype().key(), model));
        if (!needsReference) {
            b.reference(Reference.NONE);
        } else if (cfg.reference().precompute()) {
            b.reference(Reference.PRECOMPUTED);
        } else if (givenRef != null) {
            b.reference(Reference.SEPARATE).referenceModel(givenRef.config());
        } else if (refPath != null) {
            b.reference(Reference.SEPARATE).referenceModel(ModelConfig.load(refPath));
        } else {
            b.reference(policy.adapterConfig() != null ? Reference.ADAPTERS_OFF
                    : policy.source() != null ? Reference.SEPARATE : Reference.FROZEN_COPY);
        }
        MemoryPlan plan = b.build();
        Breakdown d = plan.breakdown();
        long held = d.frozenWeights() + d.trainableWeights() + d.overhead() + (givenRef != null ? d.reference() : 0);
        check(plan, held);
    }

    private static boolean half(CausalLM m) {
        return m.parameters().values().stream().findFirst().map(a -> a.getDataType() == ai.djl.ndarray.types.DataType.FLOAT16)
                .orElse(false);
    }

    /**
     * Refuses a run whose plan, less what is already held in memory, exceeds the available memory.
     *
     * @throws Align4jException with the breakdown and the settings that would fit
     */
    static void check(MemoryPlan plan, long alreadyHeld) {
        long avail = plan.available();
        if (avail < 0 || plan.total() - alreadyHeld <= avail) {
            return;
        }
        throw new Align4jException(String.format(Locale.ROOT, "this training run needs about %s at its peak but %s "
                + "has %s available (plus %s already loaded); change the settings below or free memory.%n%s",
                MemoryEstimate.gib(plan.total()), plan.settings.gpu() ? "the GPU" : "this machine", MemoryEstimate.gib(avail),
                MemoryEstimate.gib(alreadyHeld), plan.format()));
    }

    /** Settings of a plan; {@link #build()} measures the available memory unless it was given. */
    public static final class Builder {
        private MemoryEstimate.Settings s;
        private Device device = Device.cpu();

        private Builder(ModelConfig model) {
            s = MemoryEstimate.Settings.of(Objects.requireNonNull(model, "model"));
        }

        /** Preference pairs per micro-batch: chosen and rejected run as one forward of 2·pairs sequences (default 1). */
        public Builder pairs(int pairs) {
            positive(pairs, "pairs");
            s = s.withRows(2L * pairs, true);
            return this;
        }

        /** Sequences per micro-batch, for unpaired data (KTO). */
        public Builder sequences(int rows) {
            positive(rows, "sequences");
            s = s.withRows(rows, false);
            return this;
        }

        /**
         * The longest sequence (prompt + completion) and how many of its positions are scored (the
         * completion: only those go through the head and the log-softmax). Default: the model's
         * positions, all but one scored.
         */
        public Builder tokens(int tokens, int completion) {
            positive(tokens, "tokens");
            if (completion < 1 || completion > tokens) {
                throw new Align4jException("completion tokens must be in [1, " + tokens + "], got " + completion);
            }
            s = s.withTokens(tokens, completion);
            return this;
        }

        /** The precision of frozen weights: the LoRA base and a separate reference (default float32). */
        public Builder frozenDtype(Dtype d) {
            s = s.withFrozen(Objects.requireNonNull(d, "dtype"));
            return this;
        }

        /** LoRA on a frozen base; null for full fine-tuning (the default). */
        public Builder lora(LoraConfig lora) {
            s = s.withLora(lora);
            return this;
        }

        /** The LoRA settings a "use_peft" suggestion proposes for a full fine-tuning plan (default: TRL's). */
        Builder loraOption(LoraConfig lora) {
            s = s.withLoraOption(lora);
            return this;
        }

        /** Recompute each decoder layer in the backward pass, keeping only its input (default off). */
        public Builder gradientCheckpointing(boolean on) {
            s = s.withCheckpointing(on);
            return this;
        }

        /** Where the reference log-probs come from (default {@link Reference#SEPARATE}, loaded from the policy's folder). */
        public Builder reference(Reference r) {
            s = s.withReference(Objects.requireNonNull(r, "reference"));
            return this;
        }

        /** The config of a separate reference of another size (default: the policy's). */
        public Builder referenceModel(ModelConfig ref) {
            s = s.withRefModel(ref);
            return this;
        }

        /** The device (default: the CPU). */
        public Builder device(Device d) {
            device = d == null ? Device.cpu() : d;
            s = s.withGpu(device.isGpu());
            return this;
        }

        /** The memory to plan against, in bytes (default: measured on the device at {@link #build()}; -1: unknown). */
        public Builder availableBytes(long bytes) {
            s = s.withAvailable(bytes);
            return this;
        }

        public MemoryPlan build() {
            MemoryEstimate.Settings b = s.available() == MemoryEstimate.Settings.MEASURE ? s.withAvailable(MemoryEstimate.measureAvailable(device)) : s;
            return new MemoryPlan(b);
        }

        private static void positive(long v, String what) {
            if (v < 1) {
                throw new Align4jException(what + " must be at least 1, got " + v);
            }
        }
    }

    /** The settings of this plan (package: the trainer and tests). */
    MemoryEstimate.Settings settings() {
        return settings;
    }
}
