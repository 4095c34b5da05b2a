package io.github.align4j.train;

import ai.djl.Device;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.internal.FusedAttentionSwitch;
import io.github.align4j.model.internal.PromptSharing;
import io.github.align4j.model.internal.HeadBlocks;
import io.github.align4j.model.internal.SequenceLimits;
import io.github.align4j.train.internal.HugePages;
import io.github.align4j.train.internal.MemoryModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

/**
 * {@link MemoryPlan}'s arithmetic: the terms of the estimate, the settings that would fit, and the
 * table. The peak is the larger of two moments of a step: the start of the backward pass (all that
 * autograd kept, plus the logits, their log-softmax and its gradient) and a decoder layer's backward
 * (what was kept, plus that layer's gradient temporaries; with recomputation, plus the recomputed
 * layer).
 */
final class MemoryEstimate {
    private MemoryEstimate() {}

    static final long MIB = 1L << 20;
    static final long GIB = 1L << 30;

    /**
     * The JVM, libtorch and the rest of an align4j process on the CPU, before any weight: a bench
     * run of a 233k-parameter model peaks at 296–311 MiB of resident memory, about 50 MiB of which
     * are its own step (docs/performance.md).
     */
    static final long OVERHEAD_CPU = 240 * MIB;
    /** On a GPU: the CUDA context and cuBLAS workspace (not measured here: no GPU on this machine). */
    static final long OVERHEAD_GPU = 600 * MIB;
    /**
     * What glibc's arenas keep of a step on the CPU, in multiples of what they serve (measured, docs/performance.md).
     * glibc serves allocations below its mmap threshold (at most 32 MiB) from per-thread arenas that keep freed memory
     * for reuse, with holes, and the pool grows over the first steps; larger tensors are mapped and unmapped each time.
     *
     * @param slack the step's blocks below the threshold end up held about this many times again (by default 1.0:
     *     0.5 to 1.5 in the bench runs of docs/performance.md, which put the live bytes within 2% of the count)
     * @param recomputedLayer with gradient checkpointing, the arenas also keep this many times one recomputed layer's
     *     blocks below the threshold (its forward's and backward's temporaries, its float32 weight copies: W), at the
     *     head's moment as at a layer's
     * @param perLayer and this many times W more for each further layer
     */
    record Arenas(double slack, double recomputedLayer, double perLayer) {
        /**
         * glibc's defaults: fit to the peak RSS of 14 bench runs (56M to 7B weights, 2 to 32 layers, LoRA and full
         * fine-tuning, float32 and float16; with recomputation all within 0.86–1.06 of the estimate) and checked on 5
         * others (0.97–1.04); with {@code MALLOC_MMAP_THRESHOLD_=131072} five such runs peaked within 3% of the live count.
         */
        static final Arenas GLIBC = new Arenas(1.0, 1.5, 0.3);
        /**
         * With libtorch advising huge pages ({@code THP_MEM_ALLOC_ENABLE=1}, {@link HugePages#libtorchAdvises()}) the
         * arenas keep far less, and nothing that grows with the layers: fit to 15 runs of 56M and 124M models (2 to 16
         * layers, full and LoRA, float32 and float16, with and without recomputation) and the 1.1B LoRA step, all
         * within 0.89–1.11 of the estimate.
         */
        static final Arenas HUGE_PAGES = new Arenas(0.45, 1.5, 0.0);
    }

    /** This process's arenas: {@link Arenas#HUGE_PAGES} when libtorch advises huge pages, else glibc's defaults. */
    static final Arenas ARENAS = HugePages.libtorchAdvises() ? Arenas.HUGE_PAGES : Arenas.GLIBC;
    /**
     * glibc's largest mmap threshold, or the threshold {@code MALLOC_MMAP_THRESHOLD_} fixes (which
     * keeps larger tensors out of the arenas: a bounded peak, for some time per step).
     */
    static final long MMAP_MAX = mmapThreshold(System.getenv("MALLOC_MMAP_THRESHOLD_"));

    static long mmapThreshold(String env) {
        long max = 32 * MIB;
        try {
            return env == null ? max : Math.max(0, Math.min(max, Long.parseLong(env.trim())));
        } catch (NumberFormatException e) {
            return max;
        }
    }

    /** PyTorch's CUDA caching allocator: fragmentation assumed, not measured. */
    static final double SLACK_GPU = 0.2;

    /** What a plan is made of; {@code available == MEASURE} until {@link MemoryPlan.Builder#build()} measures it. */
    record Settings(ModelConfig model, ModelConfig refModel, long rows, long tokens, long completion,
            MemoryPlan.Dtype frozen, LoraConfig lora, LoraConfig loraOption, boolean checkpointing,
            MemoryPlan.Reference reference, boolean gpu, long available, boolean paired) {
        static final long MEASURE = Long.MIN_VALUE;

        static Settings of(ModelConfig m) {
            return new Settings(m, null, 2, m.maxPositions(), Math.max(1, m.maxPositions() - 1), MemoryPlan.Dtype.FLOAT32,
                    null, LoraConfig.defaults(), false, MemoryPlan.Reference.SEPARATE, false, MEASURE, true);
        }

        Settings withRows(long r, boolean p) {
            return new Settings(model, refModel, r, tokens, completion, frozen, lora, loraOption, checkpointing, reference, gpu, available, p);
        }

        Settings withTokens(long t, long c) {
            return new Settings(model, refModel, rows, t, Math.max(1, Math.min(c, t - 1)), frozen, lora, loraOption, checkpointing,
                    reference, gpu, available, paired);
        }

        Settings withFrozen(MemoryPlan.Dtype d) {
            return new Settings(model, refModel, rows, tokens, completion, d, lora, loraOption, checkpointing, reference, gpu, available, paired);
        }

        Settings withLora(LoraConfig l) {
            return new Settings(model, refModel, rows, tokens, completion, frozen, l, l != null ? l : loraOption, checkpointing,
                    reference, gpu, available, paired);
        }

        Settings withLoraOption(LoraConfig l) {
            return new Settings(model, refModel, rows, tokens, completion, frozen, lora, l, checkpointing, reference, gpu, available, paired);
        }

        Settings withCheckpointing(boolean on) {
            return new Settings(model, refModel, rows, tokens, completion, frozen, lora, loraOption, on, reference, gpu, available, paired);
        }

        Settings withReference(MemoryPlan.Reference r) {
            return new Settings(model, refModel, rows, tokens, completion, frozen, lora, loraOption, checkpointing, r, gpu, available, paired);
        }

        Settings withRefModel(ModelConfig m) {
            return new Settings(model, m, rows, tokens, completion, frozen, lora, loraOption, checkpointing, reference, gpu, available, paired);
        }

        Settings withGpu(boolean g) {
            return new Settings(model, refModel, rows, tokens, completion, frozen, lora, loraOption, checkpointing, reference, g, available, paired);
        }

        Settings withAvailable(long a) {
            return new Settings(model, refModel, rows, tokens, completion, frozen, lora, loraOption, checkpointing, reference, gpu, a, paired);
        }

        /** The reference as it is held: adapters-off needs adapters, else the reference is loaded from the folder. */
        MemoryPlan.Reference effectiveReference() {
            return reference == MemoryPlan.Reference.ADAPTERS_OFF && lora == null ? MemoryPlan.Reference.SEPARATE : reference;
        }
    }

    /** CPU: available RAM (MemAvailable + free swap, within a cgroup limit); GPU: free memory (total − used, cudaMemGetInfo). */
    static long measureAvailable(Device device) {
        if (!device.isGpu()) {
            return SequenceLimits.availableBytes(Device.cpu());
        }
        try {
            java.lang.management.MemoryUsage m = ai.djl.util.cuda.CudaUtils.getGpuMemory(device);
            return m.getMax() - m.getUsed();
        } catch (RuntimeException | LinkageError e) {
            return -1;
        }
    }

    static MemoryPlan.Breakdown estimate(Settings s) {
        return estimate(s, ARENAS);
    }

    static MemoryPlan.Breakdown estimate(Settings s, Arenas arenas) {
        ModelConfig c = s.model();
        long a = s.gpu() && s.lora() != null && s.frozen() == MemoryPlan.Dtype.FLOAT16 ? 2 : 4; // activation bytes
        long params = MemoryModel.parameters(c);
        long trainable = s.lora() == null ? params : MemoryModel.loraParameters(c, s.lora());
        long frozen = s.lora() == null ? 0 : params * s.frozen().bytes;
        long reference = switch (s.effectiveReference()) {
            case SEPARATE -> MemoryModel.parameters(s.refModel() != null ? s.refModel() : c) * s.frozen().bytes;
            case FROZEN_COPY -> params * 4;
            default -> 0;
        };
        long[] pass = passShape(s); // the policy pass's rows and row length: a pair's prompt once when it shares
        long rows = pass[0];
        long tokens = pass[1];
        boolean packed = rows != s.rows();
        long n = rows * tokens;
        long e = c.hiddenSize();
        long scored = s.rows() * s.completion();
        boolean fused = FusedAttentionSwitch.fusedFor(tokens, s.gpu()); // as the model decides per pass
        // what autograd keeps: every layer's tensors, or (recomputation) each layer's input only
        List<long[]> kept = new ArrayList<>();
        List<long[]> worstLayer = List.of();
        for (int i = 0; i < c.numLayers(); i++) {
            List<long[]> t = MemoryModel.layerTensors(c, rows, tokens, s.lora(), i, a, fused);
            if (MemoryModel.sum(t) > MemoryModel.sum(worstLayer)) {
                worstLayer = t;
            }
            if (s.checkpointing()) {
                kept.add(new long[] {1, n * e});
            } else {
                kept.addAll(t);
            }
        }
        kept.add(new long[] {s.lora() == null && !c.isGpt2() ? 2 : 1, n * e}); // the final norm's input (and normalised x)
        if (packed) {
            kept.add(new long[] {1, rows * tokens * tokens}); // the packed rows' masks, float32 (fused attention reads them too)
        } else if (!fused) {
            kept.add(new long[] {1, tokens * tokens}); // the causal mask, float32 (fused attention needs none)
        }
        // float16 weights on the CPU run as float32 copies, one at a time; autograd keeps each for the
        // input's gradient: every layer's, or (recomputation) the recomputed layer's, and the head's
        boolean convert = !s.gpu() && s.lora() != null && s.frozen() == MemoryPlan.Dtype.FLOAT16;
        long layerWeights = convert ? MemoryModel.layerLinearParameters(c) * 4 : 0;
        long headWeights = convert ? (long) c.vocabSize() * e * 4 : 0;
        // moment A: the backward pass starts at the head: logits (freed at the end of the scorer), the
        // log-softmax autograd keeps and its gradient, [scored, V] float32 each, and (full) the gathered hidden states;
        // a frozen head on the CPU (float32, or float16 small enough to widen at once) runs in row blocks (HeadBlocks):
        // the kept log-softmax, and one block's logits gradient and log-softmax gradient
        boolean blocks = s.lora() != null && !s.gpu() && (s.frozen() == MemoryPlan.Dtype.FLOAT32
                || (long) c.vocabSize() * e <= HeadBlocks.WIDEN_AT_ONCE);
        long blockRows = blocks ? HeadBlocks.rows(c.vocabSize(), scored) : 0;
        long logits = blockRows > 0 ? (scored + 2 * blockRows) * c.vocabSize() * 4
                : 3 * scored * c.vocabSize() * 4 + (s.lora() == null ? scored * e * a : 0);
        long keptBytes = MemoryModel.sum(kept) * a;
        long convertedA = (s.checkpointing() ? 0 : c.numLayers() * layerWeights) + headWeights;
        long momentA = keptBytes + convertedA + logits;
        // moment B: one layer's backward, with (recomputation) that layer recomputed and the gradient
        // reaching its output, and the product sum(out · g) whose backward gives the layer's gradients
        List<long[]> work = new ArrayList<>(MemoryModel.layerBackwardTensors(c, rows, tokens, fused));
        if (s.checkpointing()) {
            work.addAll(worstLayer);
            work.add(new long[] {2, n * e});
        }
        long convertedB = s.checkpointing() ? layerWeights : c.numLayers() * layerWeights;
        long momentB = keptBytes + MemoryModel.sum(work) * a + convertedB;
        boolean atHead = momentA >= momentB;
        long activations = atHead ? keptBytes : keptBytes + MemoryModel.sum(work) * a;
        long converted = atHead ? convertedA : convertedB;
        long slack;
        if (s.gpu()) {
            slack = Math.round(SLACK_GPU * (activations + converted + (atHead ? logits : 0)));
        } else { // what the step allocates and frees: its activations, float32 copies and (at the head) logits
            List<long[]> step = new ArrayList<>();
            for (long[] t : kept) {
                step.add(new long[] {t[0], t[1] * a});
            }
            if (!atHead) {
                for (long[] t : work) {
                    step.add(new long[] {t[0], t[1] * a});
                }
            }
            long layers = s.checkpointing() ? (atHead ? 0 : 1) : c.numLayers(); // as convertedA and convertedB
            if (convert) {
                for (MemoryModel.Module m : MemoryModel.modules(c, 0)) {
                    step.add(new long[] {layers, m.in() * m.out() * 4});
                }
                if (atHead) {
                    step.add(new long[] {1, headWeights});
                }
            }
            if (atHead && blockRows > 0) { // every block below the mmap threshold
                step.add(new long[] {(scored + blockRows - 1) / blockRows + 2, blockRows * c.vocabSize() * 4});
            } else if (atHead) {
                step.add(new long[] {3, scored * c.vocabSize() * 4});
                step.add(new long[] {s.lora() == null ? 1 : 0, scored * e * a});
            }
            long small = 0;
            for (long[] t : step) {
                small += t[1] < MMAP_MAX ? t[0] * t[1] : 0;
            }
            slack = Math.round(arenas.slack() * small);
            if (s.checkpointing()) { // what the arenas keep of the recomputed layers, whichever moment is the peak
                long layer = 0;
                for (long[] t : work) {
                    layer += t[1] * a < MMAP_MAX ? t[0] * t[1] * a : 0;
                }
                if (convert) {
                    for (MemoryModel.Module m : MemoryModel.modules(c, 0)) {
                        layer += m.in() * m.out() * 4 < MMAP_MAX ? m.in() * m.out() * 4 : 0;
                    }
                }
                double times = arenas.recomputedLayer() + arenas.perLayer() * (c.numLayers() - 1) - (atHead ? 0 : arenas.slack());
                slack += Math.round(layer * times);
            }
        }
        return new MemoryPlan.Breakdown(frozen, trainable * 4, trainable * 4, trainable * 8, activations, converted,
                atHead ? logits : 0, reference, slack, s.gpu() ? OVERHEAD_GPU : OVERHEAD_CPU);
    }

    /**
     * The policy pass's {rows, row length} as {@code SequenceScorer} lays out the longest batch: paired rows
     * whose prompt (at least a token) packs with its two completions where {@link PromptSharing} says so, else
     * one row a sequence.
     */
    static long[] passShape(Settings s) {
        long rows = s.rows();
        long tokens = s.tokens();
        if (s.paired() && rows % 2 == 0 && tokens > s.completion()
                && PromptSharing.shares(PromptSharing.mode(), s.model(), rows / 2, tokens + s.completion(), rows, tokens, s.gpu())) {
            return new long[] {rows / 2, tokens + s.completion()};
        }
        return new long[] {rows, tokens};
    }

    private record Change(String setting, UnaryOperator<Settings> apply) {}

    /**
     * Single changes that would fit (and the largest batch or max_length that would), else every
     * smallest set of them that fits together, else the shape on top of all of them; empty when
     * nothing fits.
     */
    static List<MemoryPlan.Suggestion> suggestions(Settings s) {
        List<Change> single = new ArrayList<>();
        if (s.lora() == null) {
            LoraConfig l = s.loraOption();
            single.add(new Change("use_peft: true (--use-peft; LoRA r=" + l.r() + " on " + targets(l) + ")", x -> {
                Settings y = x.withLora(l);
                return y.reference() == MemoryPlan.Reference.SEPARATE && y.refModel() == null
                        ? y.withReference(MemoryPlan.Reference.ADAPTERS_OFF) : y;
            }));
        }
        boolean frozenWeights = s.lora() != null || s.effectiveReference() == MemoryPlan.Reference.SEPARATE;
        if (s.frozen() == MemoryPlan.Dtype.FLOAT32 && frozenWeights) {
            single.add(new Change("torch_dtype: float16 (--torch-dtype float16)", x -> x.withFrozen(MemoryPlan.Dtype.FLOAT16)));
        }
        if (!s.checkpointing()) {
            single.add(new Change("gradient_checkpointing: true (--gradient-checkpointing)", x -> x.withCheckpointing(true)));
        }
        MemoryPlan.Reference r = s.effectiveReference();
        if (r == MemoryPlan.Reference.SEPARATE || r == MemoryPlan.Reference.FROZEN_COPY) {
            single.add(new Change("precompute_ref_log_probs: true (--precompute-ref)",
                    x -> x.withReference(MemoryPlan.Reference.PRECOMPUTED)));
        }
        List<MemoryPlan.Suggestion> out = new ArrayList<>();
        for (Change ch : single) {
            Settings y = ch.apply().apply(s);
            if (fits(y)) {
                out.add(new MemoryPlan.Suggestion(ch.setting(), estimate(y).total()));
            }
        }
        shrink(s, out, "");
        if (!out.isEmpty()) {
            return out;
        }
        // the fewest changes together that fit (each fitting set of that size, smallest estimate first);
        // when all of them together are not enough, the shape on top of all of them
        for (int k = 2; k <= single.size(); k++) {
            for (int mask = 1; mask < 1 << single.size(); mask++) {
                if (Integer.bitCount(mask) != k) {
                    continue;
                }
                Settings y = s;
                StringBuilder names = new StringBuilder();
                for (int i = 0; i < single.size(); i++) {
                    if ((mask & 1 << i) != 0) {
                        y = single.get(i).apply().apply(y);
                        names.append(names.length() == 0 ? "" : " + ").append(single.get(i).setting());
                    }
                }
                if (fits(y)) {
                    out.add(new MemoryPlan.Suggestion(names.toString(), estimate(y).total()));
                }
            }
            if (!out.isEmpty()) {
                out.sort(java.util.Comparator.comparingLong(MemoryPlan.Suggestion::total));
                return out;
            }
        }
        Settings y = s;
        StringBuilder all = new StringBuilder();
        for (Change ch : single) {
            y = ch.apply().apply(y);
            all.append(all.length() == 0 ? "" : " + ").append(ch.setting());
        }
        shrink(y, out, all.length() == 0 ? "" : all + " + ");
        return out;
    }

    /** The largest micro-batch, then the longest max_length, that fits with everything else as it is. */
    private static void shrink(Settings s, List<MemoryPlan.Suggestion> out, String prefix) {
        long unit = s.paired() ? 2 : 1;
        for (long k = s.rows() / unit - 1; k >= 1; k--) {
            Settings y = s.withRows(k * unit, s.paired());
            if (fits(y)) {
                long accum = (s.rows() / unit + k - 1) / k;
                out.add(new MemoryPlan.Suggestion(prefix + "per_device_train_batch_size: " + k + " (--batch-size " + k
                        + "; gradient_accumulation_steps × " + accum + " keeps the batch)", estimate(y).total()));
                break;
            }
        }
        for (long t = (s.tokens() - 1) / 64 * 64; t >= 64; t -= 64) {
            Settings y = s.withTokens(t, Math.min(s.completion(), t - 1));
            if (fits(y)) {
                out.add(new MemoryPlan.Suggestion(prefix + "max_length: " + t + " (--max-length " + t + ")", estimate(y).total()));
                break;
            }
        }
    }

    private static boolean fits(Settings s) {
        return s.available() < 0 || estimate(s).total() <= s.available();
    }

    static String targets(LoraConfig l) {
        return l.targetModules().isEmpty() ? "the family's default projections" : String.join(",", l.targetModules());
    }

    static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) GIB);
    }

    static String format(Settings s, MemoryPlan.Breakdown b, boolean fits, List<MemoryPlan.Suggestion> suggestions) {
        ModelConfig c = s.model();
        StringBuilder o = new StringBuilder();
        o.append(String.format(Locale.ROOT, "memory plan: %s, %,d parameters (hidden %d, %d layers, vocabulary %d) on the %s%n",
                c.modelType(), MemoryModel.parameters(c), c.hiddenSize(), c.numLayers(), c.vocabSize(), s.gpu() ? "GPU" : "CPU"));
        o.append(String.format(Locale.ROOT, "  micro-batch: %s × %d tokens, %d scored per sequence%n",
                s.paired() ? (s.rows() / 2) + " pairs (" + s.rows() + " sequences)" : s.rows() + " sequences", s.tokens(), s.completion()));
        o.append(String.format(Locale.ROOT, "  training: %s; frozen weights %s; gradient checkpointing %s; reference: %s%n",
                s.lora() == null ? "full fine-tuning" : String.format(Locale.ROOT, "LoRA r=%d on %s (%,d weights)", s.lora().r(),
                        targets(s.lora()), MemoryModel.loraParameters(c, s.lora())),
                s.frozen(), s.checkpointing() ? "on" : "off", s.effectiveReference()));
        row(o, "frozen weights", b.frozenWeights());
        row(o, "trainable weights (float32)", b.trainableWeights());
        row(o, "gradients (float32)", b.gradients());
        row(o, "optimizer state (AdamW m, v)", b.optimizerState());
        row(o, "activations kept for backward", b.activations());
        if (b.convertedWeights() > 0) {
            row(o, "float32 copies of float16 weights", b.convertedWeights());
        }
        row(o, "logits (completion positions)", b.logits());
        row(o, "reference weights", b.reference());
        row(o, "allocator slack", b.allocatorSlack());
        row(o, "runtime (JVM, libtorch)", b.overhead());
        row(o, "total (estimated peak)", b.total());
        o.append(String.format(Locale.ROOT, "  %-34s %s%n", "available", s.available() < 0 ? "unknown"
                : gib(s.available()) + (s.gpu() ? " (free GPU memory)" : " (available RAM)")));
        o.append(String.format(Locale.ROOT, "  %-34s %s%n", "fits", s.available() < 0 ? "unknown" : fits ? "yes" : "no"));
        if (!fits) {
            if (suggestions.isEmpty()) {
                o.append("  nothing fits: the frozen weights alone need ").append(gib(b.frozenWeights() + b.reference()))
                        .append("; use a smaller model or a machine with more memory\n");
            } else {
                o.append("  would fit with:\n");
                for (MemoryPlan.Suggestion g : suggestions) {
                    o.append(String.format(Locale.ROOT, "    %s: %s%n", g.setting(), gib(g.total())));
                }
            }
        }
        return o.toString();
    }

    private static void row(StringBuilder o, String name, long bytes) {
        o.append(String.format(Locale.ROOT, "  %-34s %10.2f GiB%n", name, bytes / (double) GIB));
    }
}
