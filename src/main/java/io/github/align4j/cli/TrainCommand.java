package io.github.align4j.cli;

import io.github.align4j.Align4jException;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.DataStats;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.loss.Losses;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.Devices;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.MemoryPlan;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
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
    @Option(names = "--warmup-ratio", paramLabel = "F") Double warmupRatio;
    @Option(names = "--warmup-steps", paramLabel = "N") Integer warmupSteps;
    @Option(names = "--batch-size", paramLabel = "N", description = "Pairs (or examples) per micro-batch (default 8).")
    Integer batchSize;
    @Option(names = "--eval-batch-size", paramLabel = "N") Integer evalBatchSize;
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
    @Option(names = "--seed", paramLabel = "S") Integer seed;
    @Option(names = "--logging-steps", paramLabel = "N") Integer loggingSteps;
    @Option(names = "--eval-steps", paramLabel = "N") Integer evalSteps;
    @Option(names = "--save-steps", paramLabel = "N") Integer saveSteps;
    @Option(names = "--save-total-limit", paramLabel = "K") Integer saveTotalLimit;
    @Option(names = "--max-length", paramLabel = "N") Integer maxLength;
    @Option(names = "--max-prompt-length", paramLabel = "N") Integer maxPromptLength;
    @Option(names = "--max-grad-norm", paramLabel = "X") Double maxGradNorm;
    @Option(names = "--weight-decay", paramLabel = "X") Double weightDecay;
    @Option(names = "--label-smoothing", paramLabel = "E") Double labelSmoothing;
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
    @Option(names = "--precompute-ref", description = "Score the reference once before training and cache it on disk.")
    boolean precomputeRef;
    @Option(names = "--cache-dir", paramLabel = "DIR", description = "Cache root: tokenized data in DIR/tokenized, "
            + "reference log-probs in DIR/reference (default ~/.cache/align4j).")
    Path cacheDir;
    @Option(names = "--device", paramLabel = "cpu|gpu|auto") String device;
    @Option(names = "--format", paramLabel = "LAYOUT", description = "Force a data layout (see `align4j inspect --help`).")
    String format;
    @Option(names = "--columns", paramLabel = "TO=FROM,...", description = "Rename columns, e.g. prompt=question,chosen=response_j.")
    String columns;
    @Option(names = "--chat-template", paramLabel = "FILE") Path chatTemplate;
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
            Map<String, Object> kw = new LinkedHashMap<>(cfg.lossKwargs());
            kw.putAll(lossOptions(lossOptions));
            cfg = cfg.with("loss_kwargs", kw, "--loss-option");
        }
        cfg = cfg.validated();
        for (String i : ignored) {
            out.println("note: recipe key ignored: " + i);
        }
        if (cfg.modelPath().isEmpty()) {
            throw new Align4jException("--model is required (or model_name_or_path in the recipe)");
        }
        if (cfg.trainFile().isEmpty()) {
            throw new Align4jException("--data is required (or train_file in the recipe)");
        }
        if (cfg.outputDir().isEmpty()) {
            throw new Align4jException("--output is required (or output_dir in the recipe)");
        }
        if (resume && overwrite) {
            throw new Align4jException("--resume and --overwrite exclude each other: --resume continues the run in "
                    + cfg.outputDir() + ", --overwrite replaces it");
        }
        Path modelDir = Path.of(cfg.modelPath());
        Path out0 = Path.of(cfg.outputDir());
        if (dryRun) {
            return dryRun(out, cfg, modelDir, out0);
        }
        checkModelFolder(modelDir, "--model");
        if (!cfg.refModelPath().isEmpty()) {
            checkModelFolder(Path.of(cfg.refModelPath()), "--ref-model");
        }
        LoraFlags.policyType(cfg, modelDir); // a refused precision stops the run before the data is read
        checkOutput(out0);
        checkFiles(cfg);
        PreferenceLoss lossFn = loss(cfg);
        ModelConfig mc = ModelConfig.load(modelDir);
        var device = Devices.resolve(cfg.device());
        try (TextTokenizer tok = TextTokenizer.load(modelDir, mc.eosTokenId())) {
            DataOptions opts = dataOptions0(cfg);
            PreferenceData train = PreferenceData.load(cfg.trainFile(), opts, tok);
            report(out, "train", train);
            PreferenceData eval = null;
            if (!cfg.evalFile().isEmpty()) {
                eval = PreferenceData.load(cfg.evalFile(), opts, tok);
                report(out, "eval", eval);
            } else if (cfg.evalSplit() > 0) {
                PreferenceData[] parts = train.split(cfg.evalSplit(), cfg.seed());
                train = parts[0];
                eval = parts[1];
                out.printf(Locale.ROOT, "eval: %d held out of the training data (eval_split %.3f)%n", eval.size(), cfg.evalSplit());
            }
            boolean wantPaired = lossFn.dataKind() == PreferenceLoss.DataKind.PAIRED;
            if (!wantPaired && train.paired()) {
                train = train.toUnpaired(cfg.seed());
                out.printf(Locale.ROOT, "train: %d pairs → %d unpaired examples for %s (shuffled, labels mixed)%n",
                        train.size() / 2, train.size(), lossFn.name());
            } else if (wantPaired && !train.paired()) {
                throw new Align4jException(cfg.trainFile() + ": unpaired (prompt, completion, label) data, but loss '"
                        + lossFn.name() + "' needs pairs. Use --loss kto, or paired data.");
            }
            out.flush();
            checkMemory(cfg, mc, device, train);
            try (CausalLM policy = LoraFlags.loadPolicy(cfg, modelDir, device, out)) {
                PreferenceTrainer.Builder b = PreferenceTrainer.builder().config(cfg).policy(policy)
                        .output(out0).tokenizerDir(modelDir).console(System.err)
                        .cacheDir((cacheDir != null ? cacheDir : DataOptions.cacheRoot()).resolve("reference"));
                if (!cfg.refModelPath().isEmpty()) {
                    b.referencePath(Path.of(cfg.refModelPath()));
                }
                b.referenceType(LoraFlags.referenceType(cfg, modelDir)); // frozen weights: held in torch_dtype
                if (train.paired()) {
                    b.trainPairs(train.pairs());
                } else {
                    b.trainUnpaired(train.unpaired());
                }
                if (eval != null) {
                    if (eval.paired()) {
                        b.evalPairs(eval.pairs());
                    } else {
                        b.evalUnpaired(eval.unpaired());
                    }
                }
                b.resume(resume).overwrite(overwrite);
                try (PreferenceTrainer t = b.build()) {
                    out.printf(Locale.ROOT, "training %s (%,d parameters) with %s, β=%s, %d steps → %s%n",
                            modelDir, policy.parameterCount(), lossFn.name(), cfg.beta(), t.totalSteps(), out0);
                    out.flush();
                    PreferenceTrainer.TrainResult r;
                    try (StopSignals signals = StopSignals.install(t, spec.commandLine().getErr())) {
                        r = t.train();
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
                }
            }
        }
        return CliSupport.EXIT_OK;
    }

    /**
     * Stops before anything is loaded when the memory plan of this run (the data's longest sequence
     * and completion) does not fit the device's available memory, with the breakdown and what would fit.
     */
    private static void checkMemory(TrainConfig cfg, ModelConfig mc, ai.djl.Device device, PreferenceData train) {
        int longest = 1;
        int completion = 1;
        if (train.paired()) {
            for (var p : train.pairs()) {
                int c = Math.max(p.chosen().length, p.rejected().length);
                longest = Math.max(longest, p.prompt().length + c);
                completion = Math.max(completion, c);
            }
        } else {
            for (var u : train.unpaired()) {
                longest = Math.max(longest, u.prompt().length + u.completion().length);
                completion = Math.max(completion, u.completion().length);
            }
        }
        MemoryPlan plan = MemoryPlan.from(cfg, mc, device).tokens(longest, Math.min(completion, longest)).build();
        if (!plan.fits()) {
            throw new Align4jException("this run does not fit in memory, so nothing was loaded (train --dry-run shows "
                    + "the plan):\n" + plan.format().stripTrailing());
        }
    }

    private Map<String, Object> flags() {
        Map<String, Object> m = new LinkedHashMap<>();
        put(m, "model_name_or_path", model);
        put(m, "ref_model", refModel);
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

    static PreferenceLoss loss(TrainConfig cfg) {
        return cfg.loss();
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

    static DataOptions dataOptions(TrainConfig cfg) {
        DataOptions o = DataOptions.defaults().withMaxLength(cfg.maxLength()).withMaxPromptLength(cfg.maxPromptLength())
                .withApplyChatTemplate(cfg.applyChatTemplate());
        if (!cfg.chatTemplate().isEmpty()) {
            o = o.withChatTemplateFile(Path.of(cfg.chatTemplate()));
        }
        return o;
    }

    private DataOptions dataOptions0(TrainConfig cfg) {
        DataOptions o = dataOptions(cfg).withSkipBadRows(skipBadRows);
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

    private static void report(PrintWriter out, String what, PreferenceData d) {
        DataStats s = d.stats();
        out.printf(Locale.ROOT, "%s: %s, layout %s, %d rows read, %d kept", what, d.files().size() == 1 ? d.files().get(0)
                : d.files().size() + " files", d.layout(), s.rowsRead(), s.kept());
        if (!s.dropped().isEmpty()) {
            out.print(", dropped " + s.dropped());
        }
        if (s.badRows() > 0) {
            out.print(", " + s.badRows() + " bad rows skipped");
        }
        out.println(d.fromCache() ? " (tokenized cache)" : "");
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

    static void checkModelFolder(Path dir, String flag) {
        if (!Files.isDirectory(dir)) {
            throw new Align4jException(flag + " " + dir + ": no such folder. Give a Hugging Face model folder "
                    + "(config.json, model.safetensors, tokenizer.json).");
        }
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            if (Files.isRegularFile(dir.resolve("adapter_config.json"))) {
                throw new Align4jException(flag + " " + dir + ": a LoRA adapter, not a model. Merge it into its base first "
                        + "(align4j merge --model BASE --adapter " + dir + " --out MERGED) and give the merged folder");
            }
            throw new Align4jException(flag + " " + dir + ": no config.json in this folder");
        }
    }

    private void checkOutput(Path dir) throws IOException {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new Align4jException("--output " + dir + " is a file; give a folder");
        }
        if (Files.isDirectory(dir) && !overwrite && !resume) {
            try (Stream<Path> s = Files.list(dir)) {
                if (s.findAny().isPresent()) {
                    throw new Align4jException("--output " + dir + " is not empty; choose a new folder, pass --resume to "
                            + "continue the run there, or --overwrite to replace its checkpoints and metrics");
                }
            }
        }
    }

    /** Files named by the settings exist (globs and folders are PreferenceData's to check). */
    private static void checkFiles(TrainConfig cfg) {
        checkFile(cfg.trainFile(), "--data (train_file)");
        if (!cfg.evalFile().isEmpty()) {
            checkFile(cfg.evalFile(), "--eval-data (eval_file)");
        }
        if (!cfg.chatTemplate().isEmpty()) {
            Path t = Path.of(cfg.chatTemplate());
            if (!Files.isRegularFile(t)) {
                throw new Align4jException("--chat-template (chat_template) " + t + ": no such file");
            }
        }
    }

    private static void checkFile(String pathOrGlob, String what) {
        if (pathOrGlob.contains("*") || pathOrGlob.contains("?") || pathOrGlob.contains("[")) {
            return;
        }
        Path p;
        try {
            p = Path.of(pathOrGlob);
        } catch (java.nio.file.InvalidPathException e) {
            throw new Align4jException(what + " '" + pathOrGlob + "': not a valid path");
        }
        if (!Files.exists(p)) {
            throw new Align4jException(what + " " + p + ": no such file or folder");
        }
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

    private int dryRun(PrintWriter out, TrainConfig cfg, Path modelDir, Path outDir) {
        loss(cfg);
        if (!cfg.usePeft() && (!cfg.torchDtype().equals("auto") || Files.isRegularFile(modelDir.resolve("config.json")))) {
            LoraFlags.policyType(cfg, modelDir);
        }
        out.println("plan (dry run, nothing is trained):");
        out.println("  model:  " + modelDir + (Files.isRegularFile(modelDir.resolve("config.json")) ? ""
                : "  (folder not found: expected on the training machine)"));
        out.println("  data:   " + cfg.trainFile() + (cfg.evalFile().isEmpty() ? "" : "; eval " + cfg.evalFile()));
        out.println("  loss:   " + (cfg.lossWeights().isEmpty() ? cfg.lossType() : cfg.lossWeights()) + ", β=" + cfg.beta());
        out.println("  output: " + outDir);
        for (String l : LoraFlags.plan(cfg)) {
            out.println("  " + l);
        }
        if (Files.isRegularFile(modelDir.resolve("config.json"))) {
            // the memory plan for sequences of max_length (the data may be shorter: train plans with its own lengths)
            MemoryPlan plan = MemoryPlan.of(cfg, ModelConfig.load(modelDir), Devices.resolve(cfg.device()));
            out.println("memory plan (max_length " + cfg.maxLength() + " tokens a sequence):");
            out.println(plan.format().stripTrailing().indent(2).stripTrailing());
        }
        cfg.asMap().forEach((k, v) -> out.println("  " + k + ": " + v));
        return CliSupport.EXIT_OK;
    }
}
