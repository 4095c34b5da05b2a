package io.github.align4j.cli;

import io.github.align4j.Align4jException;
import io.github.align4j.data.DataOptions;
import io.github.align4j.train.PreferenceRun;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code align4j train}: preference-tunes a Hugging Face checkpoint. Settings come from defaults,
 * then {@code --config recipe.yaml} (alignment-handbook keys), then flags; all are validated before
 * any model loads.
 */
@Command(name = "train", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class, sortOptions = false,
        description = {"Preference-tune a Hugging Face causal LM with DPO, IPO, KTO or any PreferenceLoss.",
            "Writes OUTPUT/metrics.jsonl, OUTPUT/checkpoint-<step>/ every --save-steps and OUTPUT/final/."})
final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR", description = "The policy: a Hugging Face folder (config.json, *.safetensors, tokenizer.json).")
    String model;
    @Option(names = "--ref-model", paramLabel = "DIR", description = "The frozen reference (default: a frozen copy of --model).")
    String refModel;
    @Mixin
    LoraFlags lora = new LoraFlags();
    @Option(names = "--data", paramLabel = "FILE", description = "Training data: JSONL, JSON, CSV or Parquet, a folder or a glob; any layout `align4j inspect` detects.")
    String data;
    @Option(names = "--eval-data", paramLabel = "FILE", description = "Held-out data (default: --eval-split of --data, if set).")
    String evalData;
    @Option(names = "--eval-split", paramLabel = "F", description = "Hold out this fraction of --data when there is no --eval-data.")
    Double evalSplit;
    @Option(names = "--loss", paramLabel = "NAME", description = "dpo, ipo, kto_pair, kto, hinge, robust, sppo_hard, nca_pair, apo_zero, apo_down, simpo, sft, exo_pair, bco_pair, aot, aot_unpaired, discopop, sigmoid_norm, apo_zero_unpaired, or a fully qualified class name.")
    String loss;
    @Option(names = "--loss-weights", paramLabel = "L=W,...", description = "A weighted sum of losses, e.g. dpo=1,sft=0.5 (RPO).")
    String lossWeights;
    @Option(names = "--loss-option", paramLabel = "NAME=VALUE", description = "An option for the loss (repeatable), "
            + "added to the recipe's loss_kwargs, e.g. --loss-option kl_detach=false or, for a custom loss, "
            + "--loss-option length_alpha=0.2.")
    List<String> lossOptions = new ArrayList<>();
    @Option(names = "--beta", paramLabel = "B", description = "β, the temperature of the implicit reward (default 0.1).")
    Double beta;
    @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default 5e-7).")
    Double lr;
    @Option(names = "--lr-scheduler", paramLabel = "TYPE", description = "cosine (default), linear or constant after warmup.")
    String lrScheduler;
    @Option(names = "--warmup-ratio", paramLabel = "F", description = "Warmup as a fraction of the optimizer steps (default 0).") Double warmupRatio;
    @Option(names = "--warmup-steps", paramLabel = "N", description = "Warmup optimizer steps; wins over --warmup-ratio when > 0 (default 0).") Integer warmupSteps;
    @Option(names = "--batch-size", paramLabel = "N", description = "Pairs (or examples) per micro-batch (default 8).")
    Integer batchSize;
    @Option(names = "--eval-batch-size", paramLabel = "N", description = "Pairs per evaluation batch (default 8).") Integer evalBatchSize;
    @Option(names = "--grad-accum", paramLabel = "K", description = "Micro-batches per optimizer step (default 1).")
    Integer gradAccum;

    @ArgGroup(exclusive = true)
    Length length;

    static final class Length {
        @Option(names = "--epochs", paramLabel = "E", description = "Epochs (default 1).") Double epochs;
        @Option(names = "--max-steps", paramLabel = "S", description = "Optimizer steps (overrides epochs).") Integer maxSteps;
    }

    @Option(names = "--shuffle", paramLabel = "true|false", arity = "1", description = "Shuffle every epoch (default true).")
    Boolean shuffle;
    @Option(names = "--group-by-length", paramLabel = "true|false", arity = "1", description = "Batch similar lengths together (less padding).")
    Boolean groupByLength;
    @Option(names = "--seed", paramLabel = "S", description = "Seed of shuffling, splits, LoRA init and dropout (default 42).") Integer seed;
    @Option(names = "--logging-steps", paramLabel = "N", description = "Log metrics every N optimizer steps (default 10).") Integer loggingSteps;
    @Option(names = "--eval-steps", paramLabel = "N", description = "Evaluate every N optimizer steps (default 0: at the end only).") Integer evalSteps;
    @Option(names = "--save-steps", paramLabel = "N", description = "Write OUTPUT/checkpoint-<step>/ every N steps (default 0: only final/).") Integer saveSteps;
    @Option(names = "--save-total-limit", paramLabel = "K", description = "Keep the newest K complete checkpoints (default 0: all).") Integer saveTotalLimit;
    @Option(names = "--max-length", paramLabel = "N", description = "Prompt + completion tokens; longer rows are truncated as TRL does (default 1024).") Integer maxLength;
    @Option(names = "--max-prompt-length", paramLabel = "N", description = "Prompt tokens, cut from the left (default 512).") Integer maxPromptLength;
    @Option(names = "--max-grad-norm", paramLabel = "X", description = "Global gradient-norm clip (default 1.0; 0: off).") Double maxGradNorm;
    @Option(names = "--weight-decay", paramLabel = "X", description = "AdamW decoupled weight decay, not on biases and norms (default 0).") Double weightDecay;
    @Option(names = "--label-smoothing", paramLabel = "E", description = "ε of cDPO, robust, exo_pair, aot, simpo (default 0).") Double labelSmoothing;
    @Option(names = "--max-nonfinite-steps", paramLabel = "N", description = "Stop, with a checkpoint of the last good "
            + "weights, after N steps in a row with a NaN/infinite loss or gradient (each is skipped; default 3).")
    Integer maxNonfiniteSteps;
    @Option(names = "--output", paramLabel = "DIR", description = "Where metrics and checkpoints go; must be empty or new "
            + "(or see --resume, --overwrite).")
    String output;
    @Option(names = "--overwrite", description = "Allow a non-empty --output: the earlier run's checkpoints and "
            + "metrics.jsonl there are replaced (other files stay; what align4j did not write under those names, "
            + "or a symbolic link, stops the run instead).")
    boolean overwrite;
    @Option(names = "--resume", description = "Continue the run in --output from its newest complete checkpoint "
            + "(weights, optimizer, schedule, data position, metrics); give the same data and settings. Starts "
            + "from the beginning when there is no checkpoint yet.")
    boolean resume;
    @Option(names = "--config", paramLabel = "RECIPE.yaml", description = "A recipe with alignment-handbook keys; flags override it.")
    Path config;
    @Option(names = "--ref-logps", paramLabel = "FILE", description = "The reference's log-probs per data row, as "
            + "align4j logprobs or align4j-spark's logprobs job writes them (chosen_logps/rejected_logps or TRL's "
            + "ref_chosen_logps/ref_rejected_logps, one JSON line per row): the reference pass is not run again.")
    String refLogps;

    @Option(names = "--precompute-ref", description = "Score the reference once before training and cache it on disk.")
    boolean precomputeRef;
    @Option(names = "--cache-dir", paramLabel = "DIR", description = "Cache root: tokenized data in DIR/tokenized, "
            + "reference log-probs in DIR/reference (default ~/.cache/align4j).")
    Path cacheDir;
    @Option(names = "--device", paramLabel = "cpu|gpu|auto", description = "Where to train (default auto: a GPU when DJL sees one, else the CPU).") String device;
    @Option(names = "--format", paramLabel = "LAYOUT", description = "Force a data layout (see `align4j inspect --help`).")
    String format;
    @Option(names = "--columns", paramLabel = "TO=FROM,...", description = "Rename columns, e.g. prompt=question,chosen=response_j.")
    String columns;
    @Option(names = "--chat-template", paramLabel = "FILE", description = "A Jinja chat template file (default: the tokenizer's).") Path chatTemplate;
    @Option(names = "--apply-chat-template", description = "Wrap plain-text rows in the chat template.")
    boolean applyChatTemplate;
    @Option(names = "--skip-bad-rows", description = "Skip and count malformed rows instead of stopping.")
    boolean skipBadRows;
    @Option(names = "--max-line-bytes", paramLabel = "SIZE", description = "Longest row a data file may hold, "
            + "as bytes or with k/m/g (default 64m); a longer row is a bad row.")
    String maxLineBytes;
    @Option(names = "--dry-run", description = "Resolve and validate everything, print the plan, and stop before training.")
    boolean dryRun;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        List<String> ignored = new ArrayList<>();
        TrainConfig cfg = TrainConfig.defaults();
        if (config != null) {
            cfg = TrainConfig.fromYaml(config, cfg, ignored);
        }
        cfg = cfg.with(flags(), "command line");
        if (!lossOptions.isEmpty()) {
            Map<String, Object> kw = new LinkedHashMap<>(cfg.lossSpec().kwargs());
            kw.putAll(lossOptions(lossOptions));
            cfg = cfg.with("loss_kwargs", kw, "--loss-option");
        }
        cfg = cfg.validated();
        if (resume && overwrite) {
            throw new Align4jException("--resume and --overwrite exclude each other: --resume continues the run in "
                    + cfg.output().dir() + ", --overwrite replaces it");
        }
        for (String i : ignored) {
            out.println("note: recipe key ignored: " + i);
        }
        Path root = cacheDir != null ? cacheDir : DataOptions.cacheRoot();
        // the library builds and runs the run; this command only reads flags and prints
        PreferenceRun run = PreferenceRun.builder().config(cfg).dataOptions(dataOptions0()).resume(resume).overwrite(overwrite)
                .cacheDir(root.resolve("reference")).console(System.err)
                .messages(line -> {
                    out.println(line);
                    out.flush();
                })
                .build();
        if (dryRun) {
            return dryRun(out, run);
        }
        PreferenceTrainer.TrainResult r;
        try (StopSignals signals = StopSignals.install(run::requestStop, spec.commandLine().getErr())) {
            r = run.train();
            if (signals.received() != null) {
                // the trainer has said where it stopped ("stopped by SIGTERM after step ..."); not again here
                PrintWriter err = spec.commandLine().getErr();
                if (r.stopped()) {
                    err.println("resume with: " + resumeCommand());
                } else {
                    err.println(signals.received() + " arrived as the run finished: all " + r.steps()
                            + " steps done; final checkpoint " + r.finalCheckpoint());
                }
                err.flush();
                out.flush();
                return signals.exitCode();
            }
        }
        out.println("done: " + r.steps() + " steps; final checkpoint " + r.finalCheckpoint());
        print(out, "train", r.lastTrain());
        print(out, "eval", r.lastEval());
        return CliSupport.EXIT_OK;
    }

    private Map<String, Object> flags() {
        Map<String, Object> m = new LinkedHashMap<>();
        put(m, "model_name_or_path", model);
        put(m, "ref_model", refModel);
        put(m, "ref_logps_file", refLogps);
        put(m, "train_file", data);
        put(m, "eval_file", evalData);
        put(m, "eval_split", evalSplit);
        put(m, "loss_type", loss);
        put(m, "loss_weights", lossWeights);
        put(m, "beta", beta);
        put(m, "learning_rate", lr);
        put(m, "lr_scheduler_type", lrScheduler);
        put(m, "warmup_ratio", warmupRatio);
        put(m, "warmup_steps", warmupSteps);
        put(m, "per_device_train_batch_size", batchSize);
        put(m, "per_device_eval_batch_size", evalBatchSize);
        put(m, "gradient_accumulation_steps", gradAccum);
        if (length != null) {
            put(m, "num_train_epochs", length.epochs);
            put(m, "max_steps", length.maxSteps);
        }
        put(m, "shuffle", shuffle);
        put(m, "group_by_length", groupByLength);
        put(m, "seed", seed);
        put(m, "logging_steps", loggingSteps);
        put(m, "eval_steps", evalSteps);
        put(m, "save_steps", saveSteps);
        put(m, "save_total_limit", saveTotalLimit);
        put(m, "max_length", maxLength);
        put(m, "max_prompt_length", maxPromptLength);
        put(m, "max_grad_norm", maxGradNorm);
        put(m, "weight_decay", weightDecay);
        put(m, "label_smoothing", labelSmoothing);
        put(m, "max_nonfinite_steps", maxNonfiniteSteps);
        put(m, "output_dir", output);
        put(m, "device", device);
        lora.putInto(m);
        put(m, "chat_template", chatTemplate == null ? null : chatTemplate.toString());
        if (precomputeRef) {
            m.put("precompute_ref_log_probs", true);
        }
        if (applyChatTemplate) {
            m.put("apply_chat_template", true);
        }
        return m;
    }

    private static void put(Map<String, Object> m, String key, Object v) {
        if (v != null) {
            m.put(key, v);
        }
    }

    /** --loss-option NAME=VALUE, in order (a later one wins); the values are typed by TrainConfig. */
    static Map<String, Object> lossOptions(List<String> given) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (String o : given) {
            int eq = o.indexOf('=');
            if (eq <= 0) {
                throw new Align4jException("--loss-option: expected NAME=VALUE (e.g. kl_detach=false), got '" + o + "'");
            }
            m.put(o.substring(0, eq).trim(), o.substring(eq + 1).trim());
        }
        return m;
    }

    /** The data-reading flags; max lengths and the chat template come from the config (PreferenceRun adds them). */
    private DataOptions dataOptions0() {
        DataOptions o = DataOptions.defaults().withSkipBadRows(skipBadRows);
        if (format != null) {
            o = o.withFormat(format);
        }
        if (columns != null) {
            o = o.withColumns(columns);
        }
        if (maxLineBytes != null) {
            o = o.withMaxLineBytes(DataOptions.parseBytes(maxLineBytes, "--max-line-bytes"));
        }
        return o.withCacheRoot(cacheDir != null ? cacheDir : DataOptions.cacheRoot());
    }

    private static void print(PrintWriter out, String what, Map<String, Object> m) {
        if (m == null) {
            return;
        }
        StringBuilder sb = new StringBuilder(what + ":");
        m.forEach((k, v) -> sb.append(' ').append(k).append('=').append(v instanceof Double d
                ? String.format(Locale.ROOT, "%.4g", d) : String.valueOf(v)));
        out.println(sb);
    }

    /** This command line with --resume (and without --overwrite), quoted for a POSIX shell. */
    private String resumeCommand() {
        List<String> args = new ArrayList<>(spec.commandLine().getParseResult().originalArgs());
        args.remove("--overwrite");
        if (!args.contains("--resume")) {
            args.add("--resume");
        }
        StringBuilder sb = new StringBuilder("align4j");
        if (!args.isEmpty() && !args.get(0).equals("train")) {
            sb.append(" train");
        }
        for (String a : args) {
            sb.append(' ').append(a.matches("[A-Za-z0-9_./=:,@%+-]+") ? a : "'" + a.replace("'", "'\\''") + "'");
        }
        return sb.toString();
    }

    private static int dryRun(PrintWriter out, PreferenceRun run) {
        PreferenceRun.Plan plan = run.plan(true);
        out.println("plan (dry run, nothing is trained):");
        for (String l : plan.lines()) {
            out.println("  " + l);
        }
        if (plan.memory() != null) {
            out.println("memory plan (max_length " + run.config().data().maxLength() + " tokens a sequence):");
            out.println(plan.memory().format().stripTrailing().indent(2).stripTrailing());
        }
        run.config().asMap().forEach((k, v) -> out.println("  " + k + ": " + v));
        out.flush();
        if (!plan.fits()) {
            throw new Align4jException("this run does not fit in memory at max_length " + run.config().data().maxLength()
                    + " (the plan above says what would fit)");
        }
        return CliSupport.EXIT_OK;
    }
}
