package io.github.align4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.internal.Bench;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code align4j bench}: times full DPO training steps (policy forward and backward, reference
 * forward, loss, clipping, AdamW) on random token ids of a fixed shape, through the same trainer
 * that {@code align4j train} uses. Compare with {@code torch_dpo_step.py} on the same checkpoint,
 * shape and thread count (docs/performance.md).
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Time N full DPO training steps on random token ids of a fixed shape and print the median and "
                    + "min/max step time, policy tokens per second, peak resident memory (VmHWM) next to the memory "
                    + "planner's estimate, live native arrays after warm-up and at the end, and the padding fraction. "
                    + "One configuration per run: peak memory is the process's own.",
            "Example: align4j bench --model bench-small --pairs 8 --prompt 64 --completion 64 --steps 20 --threads 2 --json",
            "LoRA: align4j bench --model DIR --use-peft --lora-r 16 --lora-target-modules all-linear --torch-dtype float16 "
                    + "--gradient-checkpointing"
        })
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A Hugging Face model folder (config.json + safetensors); it is also the reference "
                    + "(with --use-peft: the same weights with the adapters off).")
    Path model;

    @Option(names = "--pairs", defaultValue = "8", paramLabel = "B", description = "Preference pairs per step (default: ${DEFAULT-VALUE}).")
    int pairs;

    @Option(names = "--prompt", defaultValue = "64", paramLabel = "P", description = "Prompt tokens (default: ${DEFAULT-VALUE}).")
    int prompt;

    @Option(names = "--completion", defaultValue = "64", paramLabel = "C",
            description = "Chosen and rejected tokens each (default: ${DEFAULT-VALUE}).")
    int completion;

    @Option(names = "--steps", paramLabel = "N", description = "Timed steps (default: 20; with --data, one epoch).")
    Integer steps;

    @Option(names = "--warmup", paramLabel = "W", description = "Untimed steps first (default: 2; with --data, 0).")
    Integer warmup;

    @Option(names = "--threads", paramLabel = "T",
            description = "PyTorch intra-op threads (default: the number of cores the JVM sees).")
    Integer threads;

    @Option(names = "--precompute-ref", description = "Score the reference once before training (precompute_ref_log_probs).")
    boolean precomputeRef;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|gpu|auto", description = "Where to run (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--seed", defaultValue = "0", description = "Random ids (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "Print one JSON object instead of the table.")
    boolean json;

    @Option(names = "--data", paramLabel = "FILE",
            description = "Time one epoch on a real preference dataset instead of random ids (any layout 'align4j train' reads).")
    String data;

    @Option(names = "--tokenizer", paramLabel = "DIR",
            description = "Tokenizer for --data (default: the model folder); ids beyond the model's vocabulary are taken modulo it.")
    Path tokenizer;

    @Option(names = "--max-length", defaultValue = "1024", paramLabel = "N", description = "With --data: most tokens per sequence (default: ${DEFAULT-VALUE}).")
    int maxLength;

    @Option(names = "--max-prompt-length", defaultValue = "512", paramLabel = "N", description = "With --data: most prompt tokens (default: ${DEFAULT-VALUE}).")
    int maxPromptLength;

    @Option(names = "--cache-dir", paramLabel = "DIR",
            description = "Cache root: tokenized --data in DIR/tokenized, precomputed reference log-probs in DIR/reference "
                    + "(default: ~/.cache/align4j for data, a temporary folder for the reference).")
    Path cacheDir;

    @Option(names = "--group-by-length", arity = "1", defaultValue = "true", paramLabel = "true|false",
            description = "With --data: sort by length within windows of 64 batches, then shuffle the batches (default: ${DEFAULT-VALUE}).")
    boolean groupByLength;

    @Option(names = "--use-peft", description = "Train LoRA adapters on the frozen base; the reference is the base with the adapters off.")
    boolean usePeft;

    @Option(names = "--lora-r", defaultValue = "16", paramLabel = "R", description = "LoRA rank (default: ${DEFAULT-VALUE}).")
    int loraR;

    @Option(names = "--lora-alpha", defaultValue = "32", paramLabel = "A", description = "LoRA alpha, scaling alpha/r (default: ${DEFAULT-VALUE}).")
    double loraAlpha;

    @Option(names = "--lora-dropout", defaultValue = "0.05", paramLabel = "P", description = "Dropout on the adapters' input (default: ${DEFAULT-VALUE}).")
    double loraDropout;

    @Option(names = "--lora-target-modules", paramLabel = "M,...",
            description = "Projections to adapt, e.g. q_proj,v_proj or all-linear (default: the family's, as PEFT: q_proj,v_proj; GPT-2 c_attn).")
    String loraTargetModules;

    @Option(names = "--torch-dtype", defaultValue = "float32", paramLabel = "float32|float16|bfloat16|auto",
            description = "Precision of the frozen weights (the LoRA base, the reference) (default: ${DEFAULT-VALUE}).")
    String torchDtype;

    @Option(names = "--gradient-checkpointing", description = "Recompute each decoder layer in the backward pass, keeping only its input.")
    boolean gradientCheckpointing;

    @Override
    public Integer call() throws Exception {
        int w = warmup != null ? warmup : data != null ? 0 : 2;
        if (pairs < 1 || prompt < 1 || completion < 1 || (steps != null && steps < 1) || w < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--pairs, --prompt, --completion and --steps must be at least 1, --warmup at least 0");
        }
        int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        if (t < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--threads must be at least 1, got " + t);
        }
        Threads.set(t);
        CliSupport.existingDir(model, "--model", "a Hugging Face model folder with config.json and model.safetensors");
        List<TokenizedPair> pairsData = data == null ? null : load();
        int n = steps != null ? steps : pairsData != null ? (pairsData.size() + pairs - 1) / pairs : 20;
        if (!List.of("float32", "float16", "bfloat16", "auto").contains(torchDtype)) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--torch-dtype must be float32, float16, bfloat16 or auto, got '" + torchDtype + "'");
        }
        LoraConfig lora = !usePeft ? null : new LoraConfig(loraR, loraAlpha, loraDropout,
                loraTargetModules == null ? List.of() : List.of(loraTargetModules.split("\\s*,\\s*")), false);
        Bench.Result r = Bench.run(new Bench.Options(model, pairs, prompt, completion, n, w, precomputeRef, pairsData,
                groupByLength, device, cacheDir == null ? null : cacheDir.resolve("reference"), seed)
                .with(lora, torchDtype, gradientCheckpointing));
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(new ObjectMapper().writeValueAsString(r.toMap()));
        } else {
            print(out, r);
        }
        out.flush();
        return CliSupport.EXIT_OK;
    }

    private List<TokenizedPair> load() {
        Path tokDir = tokenizer != null ? tokenizer : model;
        CliSupport.existingDir(tokDir, "--tokenizer", "a folder with tokenizer.json (and tokenizer_config.json)");
        try (TextTokenizer tok = TextTokenizer.load(tokDir, ModelConfig.load(model).eosTokenId())) {
            DataOptions opts = DataOptions.defaults().withMaxLength(maxLength).withMaxPromptLength(maxPromptLength);
            opts = opts.withCacheDir(cacheDir != null ? cacheDir.resolve("tokenized") : DataOptions.defaultCacheDir());
            PreferenceData d = PreferenceData.load(data, opts, tok);
            if (!d.paired()) {
                throw new Align4jException(data + ": bench times DPO steps and needs paired data (prompt, chosen, "
                        + "rejected); this file is " + d.layout());
            }
            return d.pairs();
        }
    }

    static void print(PrintWriter out, Bench.Result r) {
        out.printf(Locale.ROOT, "model            %s (%,d parameters) on %s, %d intra-op threads%n", r.model(), r.parameters(),
                r.device(), r.threads());
        if (r.realData()) {
            out.printf(Locale.ROOT, "shape            %d pairs per step (real data), reference %s%n", r.pairs(),
                    r.precomputeRef() ? "precomputed" : "live");
        } else {
            out.printf(Locale.ROOT, "shape            %d pairs × (%d prompt + %d completion) tokens, reference %s%n", r.pairs(),
                    r.prompt(), r.completion(), r.precomputeRef() ? "precomputed" : "live");
        }
        out.printf(Locale.ROOT, "step time        median %.4f s  (min %.4f, max %.4f) over %d steps%n", r.medianStepSeconds(),
                r.minStepSeconds(), r.maxStepSeconds(), r.stepSeconds().length);
        out.printf(Locale.ROOT, "policy tokens/s  %.1f%n", r.tokensPerSecond());
        out.printf(Locale.ROOT, "training         %s%n", r.training());
        if (!r.realData()) {
            out.printf(Locale.ROOT, "GFLOP/s          %.1f achieved (%.2f GFLOP a step), %.0f%% of the %.1f GFLOP/s float32 matmul "
                    + "peak measured at %s%n", r.achievedGflops(), r.stepGflop(), 100 * r.shareOfPeak(), r.matmulPeakGflops(),
                    r.matmulPeakShape());
        }
        out.printf(Locale.ROOT, "peak RSS         %.1f MB  (after warm-up %.1f MB, at the end %.1f MB)%n", r.peakRssMb(),
                r.rssAfterWarmupMb(), r.rssEndMb());
        out.printf(Locale.ROOT, "memory plan      %.1f MB estimated peak (%+.0f%% of the measured peak; breakdown: --json)%n",
                r.estimatedPeakMb(), r.peakRssMb() > 0 ? 100 * (r.estimatedPeakMb() / r.peakRssMb() - 1) : Double.NaN);
        if (r.plan() != null && !r.plan().caveat().isEmpty()) {
            out.printf(Locale.ROOT, "                 %s%n", r.plan().caveat());
        }
        out.printf(Locale.ROOT, "live arrays      %d after warm-up, %d at the end%n", r.arraysAfterWarmup(), r.arraysEnd());
        if (r.realData()) {
            out.printf(Locale.ROOT, "data             %d pairs, %s batching; one epoch of steps took %.2f s%n", r.examples(),
                    r.groupByLength() ? "length-grouped" : "random", r.totalSeconds());
        }
        out.printf(Locale.ROOT, "padding          %.1f%% of the policy's batch tokens%n", 100 * r.paddingFraction());
        out.printf(Locale.ROOT, "setup            %.2f s (loading%s)%n", r.setupSeconds(), r.precomputeRef() ? ", scoring the reference" : "");
    }

    /** Sets PyTorch's thread counts: as system properties before the engine starts, directly after. */
    static final class Threads {
        private Threads() {}

        static void set(int n) {
            System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(n));
            System.setProperty("ai.djl.pytorch.num_interop_threads", Integer.toString(n));
            ai.djl.engine.Engine.getEngine("PyTorch"); // reads the properties on first start
            if (ai.djl.pytorch.jni.JniUtils.getNumThreads() != n) {
                ai.djl.pytorch.jni.JniUtils.setNumThreads(n); // the engine started earlier (an embedding application)
            }
        }
    }
}
