package io.github.align4j.train;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.internal.Devices;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.model.internal.ModelDtypes;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One training run, exactly as its config says: the library's equivalent of {@code align4j train},
 * which calls it. It reads every setting of {@link TrainConfig}: the model folder
 * ({@code model_name_or_path}), the data ({@code train_file}, {@code eval_file} or {@code eval_split}),
 * the loss, LoRA ({@code use_peft}, {@code lora_*}), precision ({@code torch_dtype}, resolved once),
 * recomputation, the reference ({@code ref_model}, or the base with the adapters off under LoRA) and
 * the output folder ({@code output_dir}); it checks everything it can before loading anything, plans
 * memory once from the data's real lengths, loads the policy and trains.
 *
 * <pre>{@code
 * TrainResult r = PreferenceRun.fromRecipe(Path.of("dpo-lora.yaml")).train();
 * }</pre>
 * or, from code:
 * <pre>{@code
 * TrainConfig cfg = TrainConfig.builder().modelPath("tiny-llama").trainFile("pairs.jsonl").evalSplit(0.1)
 *         .usePeft(true).loraR(8).loraTargetModules("all-linear").outputDir("runs/lora").build();
 * TrainResult r = PreferenceRun.builder().config(cfg).listener(myListener).build().train();
 * }</pre>
 *
 * <p>Messages (rows read, LoRA and parameter counts, the plan, the end) go to SLF4J at INFO (logger
 * {@code io.github.align4j.train.PreferenceRun}) and to {@link Builder#messages} when set. One run trains
 * at a time per JVM (see {@link PreferenceTrainer}).
 */
public final class PreferenceRun {
    private static final Logger LOG = LoggerFactory.getLogger(PreferenceRun.class);

    private final TrainConfig cfg;
    private final List<String> ignoredKeys;
    private final PreferenceLoss loss;
    private final Builder b;
    private volatile PreferenceTrainer trainer;
    private volatile String stopRequest;

    private PreferenceRun(Builder b) {
        this.b = b;
        this.cfg = Objects.requireNonNull(b.config, "config").validated();
        this.ignoredKeys = List.copyOf(b.ignored);
        this.loss = b.loss != null ? ConfigUse.loss(cfg, b.loss) : cfg.loss(); // built once, checked before anything loads
        if (b.trainData == null && b.trainPairs == null && b.trainUnpaired == null && cfg.data().trainFile().isEmpty()) {
            throw new Align4jException("no training data: set train_file (TrainConfig.Builder.trainFile, --data) or give "
                    + "loaded data with PreferenceRun.Builder.trainData");
        }
        if (cfg.model().path().isEmpty()) {
            throw new Align4jException("no model: set model_name_or_path (TrainConfig.Builder.modelPath, --model)");
        }
        if (cfg.output().dir().isEmpty()) {
            throw new Align4jException("no output folder: set output_dir (TrainConfig.Builder.outputDir, --output); "
                    + "checkpoints, final/ and metrics.jsonl go there");
        }
        if (b.resume && b.overwrite) {
            throw new Align4jException("resume and overwrite exclude each other: resume continues the run in "
                    + cfg.output().dir() + ", overwrite replaces it");
        }
        if (b.reference != null && cfg.lora().enabled()) {
            throw new Align4jException("a shared reference model was given (PreferenceRun.Builder.reference) but use_peft is "
                    + "set: under LoRA the reference is the base with the adapters off; drop the shared reference");
        }
    }

    /** A builder; {@link Builder#config} or {@link Builder#recipe} is required. */
    public static Builder builder() {
        return new Builder();
    }

    /** The run an alignment-handbook / TRL recipe describes (defaults, then the recipe's keys). */
    public static PreferenceRun fromRecipe(Path recipe) {
        return builder().recipe(recipe).build();
    }

    /** The settings this run uses (validated). */
    public TrainConfig config() {
        return cfg;
    }

    /** The loss it trains. */
    public PreferenceLoss loss() {
        return loss;
    }

    /**
     * What the run would do, without loading a model or training: the checks {@link #train()} makes before
     * it loads anything (folders, files, precision, LoRA targets' names, the loss and its data kind), and the
     * memory plan for sequences of {@code max_length}.
     *
     * @param lenient true to accept a model folder or data files that are not on this machine (planning for
     *     another machine): the plan then says so; false checks them as {@link #train()} does
     */
    public Plan plan(boolean lenient) {
        Path modelDir = Path.of(cfg.model().path());
        boolean haveModel = Files.isRegularFile(modelDir.resolve("config.json"));
        if (!lenient || haveModel) {
            RunChecks.modelFolder(modelDir, "model_name_or_path (--model)");
            if (!cfg.reference().path().isEmpty()) {
                RunChecks.modelFolder(Path.of(cfg.reference().path()), "ref_model (--ref-model)");
            }
        }
        if (!lenient) {
            RunChecks.files(cfg, b.trainData != null || b.trainPairs != null || b.trainUnpaired != null,
                    b.evalData != null || b.trainPairs != null || b.trainUnpaired != null);
        }
        Precision p = haveModel ? precision(modelDir) : null;
        List<String> lines = new ArrayList<>();
        lines.add("model:  " + modelDir + (haveModel ? "" : "  (folder not found: expected on the training machine)"));
        lines.add("data:   " + (b.trainData != null ? "given (" + b.trainData.size() + " examples)" : cfg.data().trainFile())
                + (cfg.data().evalFile().isEmpty() ? cfg.data().evalSplit() > 0 ? "; eval_split " + cfg.data().evalSplit() : ""
                : "; eval " + cfg.data().evalFile()));
        lines.add("loss:   " + (cfg.lossSpec().weights().isEmpty() ? loss.name() : cfg.get("loss_weights")) + ", β=" + cfg.lossSpec().beta());
        lines.add("output: " + cfg.output().dir());
        lines.addAll(RunModels.plan(cfg));
        MemoryPlan memory = null;
        if (haveModel) {
            ModelConfig mc = ModelConfig.load(modelDir);
            if (cfg.lora().enabled()) {
                RunModels.checkTargets(cfg, mc);
            }
            memory = MemoryPlan.of(cfg, mc, Devices.resolve(cfg.model().device().toString()));
        }
        if (p != null && !cfg.lora().enabled() && p.reference() != DataType.FLOAT32) {
            lines.add("note: full fine-tuning trains float32 weights; torch_dtype " + cfg.model().torchDtype().key()
                    + " applies to the frozen reference");
        }
        return new Plan(List.copyOf(lines), memory, List.copyOf(ignoredKeys));
    }

    /**
     * What {@link #plan(boolean)} returns.
     *
     * @param lines the run's settings, one per line
     * @param memory the memory plan for sequences of {@code max_length} (null when the model folder is not here)
     * @param ignoredKeys recipe keys that mean nothing on this engine, each with why
     */
    public record Plan(List<String> lines, MemoryPlan memory, List<String> ignoredKeys) {
        /** Whether the run fits in the memory available (true when unknown). */
        public boolean fits() {
            return memory == null || memory.fits();
        }
    }

    /**
     * Trains: checks, reads and splits the data, plans memory from its lengths (a run that does not fit stops
     * here, before the model loads, naming what would fit), loads the policy (with LoRA adapters when
     * {@code use_peft}) and trains into {@code output_dir}.
     */
    public PreferenceTrainer.TrainResult train() {
        long start = System.nanoTime();
        Path modelDir = Path.of(cfg.model().path());
        Path out = Path.of(cfg.output().dir());
        RunChecks.modelFolder(modelDir, "model_name_or_path (--model)");
        if (!cfg.reference().path().isEmpty()) {
            RunChecks.modelFolder(Path.of(cfg.reference().path()), "ref_model (--ref-model)");
        }
        for (String i : ignoredKeys) {
            say("note: recipe key ignored: " + i);
        }
        Precision precision = precision(modelDir); // torch_dtype resolved once for the whole run
        RunChecks.output(out, b.overwrite, b.resume);
        RunChecks.files(cfg, b.trainData != null || b.trainPairs != null || b.trainUnpaired != null,
                b.evalData != null || b.trainPairs != null || b.trainUnpaired != null);
        ModelConfig mc = ModelConfig.load(modelDir);
        if (cfg.lora().enabled()) {
            RunModels.checkTargets(cfg, mc);
        }
        Device device = Devices.resolve(cfg.model().device().toString());
        RunData data;
        if (b.trainPairs != null || b.trainUnpaired != null) {
            data = RunData.given(b.trainPairs, b.trainUnpaired, b.evalPairs, b.evalUnpaired, loss, this::say);
        } else {
            try (TextTokenizer tok = TextTokenizer.load(modelDir, mc.eosTokenId())) {
                data = RunData.read(tok, RunData.options(b.dataOptions, cfg), b.trainData, b.evalData, cfg, loss, this::say);
            }
        }
        MemoryPlan plan = data.memoryPlan(cfg, mc, device);
        if (!plan.fits()) {
            throw new Align4jException("this run does not fit in memory, so nothing was loaded (PreferenceRun.plan / "
                    + "train --dry-run shows the plan):\n" + plan.format().stripTrailing());
        }
        LOG.debug("memory plan:\n{}", plan.format());
        if (!cfg.lora().enabled() && precision.reference() != DataType.FLOAT32) {
            say("note: full fine-tuning trains float32 weights; torch_dtype " + cfg.model().torchDtype().key()
                    + " applies to the frozen reference (add --use-peft / use_peft for a half-precision base)");
        }
        try (CausalLM policy = RunModels.loadPolicy(cfg, modelDir, device, precision.policy(), b.reference)) {
            say(RunModels.summary(policy, precision.policy()));
            PreferenceTrainer.Builder tb = PreferenceTrainer.builder().config(cfg).policy(policy).output(out)
                    .tokenizerDir(modelDir).console(b.console).cacheDir(b.cacheDir).onStep(b.onStep)
                    .referenceType(precision.reference()).resume(b.resume).overwrite(b.overwrite).planned(true);
            if (b.loss != null) {
                tb.loss(b.loss);
            } else {
                tb.configLoss(loss); // built once, from the config
            }
            b.listeners.forEach(tb::listener);
            if (b.reference != null) {
                tb.reference(b.reference);
            } else if (!cfg.reference().path().isEmpty()) {
                tb.referencePath(Path.of(cfg.reference().path()));
            }
            tb.trainPairs(data.trainPairs()).trainUnpaired(data.trainUnpaired()).evalPairs(data.evalPairs())
                    .evalUnpaired(data.evalUnpaired());
            try (PreferenceTrainer t = tb.build()) {
                trainer = t;
                if (stopRequest != null) {
                    t.requestStop(stopRequest);
                }
                say(String.format(Locale.ROOT, "training %s (%,d parameters, %s) with %s, β=%s, %d steps on %s → %s",
                        modelDir, policy.parameterCount() + RunModels.trainable(policy),
                        RunModels.trainableLabel(policy), loss.name(), cfg.lossSpec().beta(), t.totalSteps(), device, out));
                PreferenceTrainer.TrainResult r = t.train();
                if (b.onTrained != null) {
                    b.onTrained.accept(policy, r);
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                LOG.info(String.format(Locale.ROOT, "%s after %d steps in %.1f s; final checkpoint %s",
                        r.stopped() ? "stopped" : "done", r.steps(), seconds, r.finalCheckpoint()));
                return r;
            } finally {
                trainer = null;
            }
        }
    }

    /**
     * Asks a running {@link #train()} to stop after its current optimizer step, with a checkpoint (see
     * {@link PreferenceTrainer#requestStop}); before training starts, the run stops at its first step.
     */
    public void requestStop(String why) {
        if (stopRequest == null) {
            stopRequest = why == null ? "a stop request" : why;
        }
        PreferenceTrainer t = trainer;
        if (t != null) {
            t.requestStop(stopRequest);
        }
    }

    /** The precision of the policy's weights and of a reference loaded from a folder, torch_dtype resolved once. */
    record Precision(DataType policy, DataType reference) {}

    private Precision precision(Path modelDir) {
        DataType asked;
        try {
            asked = ModelDtypes.resolve(cfg.model().torchDtype().key(), modelDir);
        } catch (Align4jException e) {
            throw new Align4jException("torch_dtype (--torch-dtype): " + e.getMessage(), e);
        }
        DataType reference = asked;
        if (!cfg.reference().path().isEmpty() && cfg.model().torchDtype() == TorchDtype.AUTO) {
            reference = ModelDtypes.resolve(cfg.model().torchDtype().key(), Path.of(cfg.reference().path()));
        }
        // full fine-tuning keeps float32 trainable weights; torch_dtype then holds the reference
        return new Precision(cfg.lora().enabled() ? asked : DataType.FLOAT32, reference);
    }

    private void say(String line) {
        LOG.info(line);
        if (b.messages != null) {
            b.messages.accept(line);
        }
    }

    /** Builds a {@link PreferenceRun}. */
    public static final class Builder {
        private TrainConfig config;
        private final List<String> ignored = new ArrayList<>();
        private PreferenceLoss loss;
        private final List<TrainingListener> listeners = new ArrayList<>();
        private DataOptions dataOptions;
        private PreferenceData trainData;
        private PreferenceData evalData;
        private List<TokenizedPair> trainPairs;
        private List<TokenizedUnpaired> trainUnpaired;
        private List<TokenizedPair> evalPairs;
        private List<TokenizedUnpaired> evalUnpaired;
        private java.util.function.BiConsumer<CausalLM, PreferenceTrainer.TrainResult> onTrained;
        private CausalLM reference;
        private boolean resume;
        private boolean overwrite;
        private PrintStream console;
        private Consumer<String> messages;
        private Path cacheDir;
        private PreferenceTrainer.StepListener onStep;

        private Builder() {}

        /** The run's settings. */
        public Builder config(TrainConfig c) {
            this.config = c;
            return this;
        }

        /** Defaults, then the keys of this alignment-handbook / TRL recipe (YAML); keys that mean nothing here are noted. */
        public Builder recipe(Path yaml) {
            this.ignored.clear();
            this.config = TrainConfig.fromYaml(yaml, TrainConfig.defaults(), ignored);
            return this;
        }

        /** A loss instance to train instead of the config's {@code loss_type} (giving both is refused). */
        public Builder loss(PreferenceLoss l) {
            this.loss = l;
            return this;
        }

        /** Receives every step's metrics, evaluations and checkpoints (called in the order added). */
        public Builder listener(TrainingListener l) {
            this.listeners.add(Objects.requireNonNull(l, "listener"));
            return this;
        }

        /**
         * How data files are read: layout ({@code withFormat}), column names, bad rows, line cap, caches. The
         * max lengths and chat-template settings come from the config (one place); the ones here are replaced.
         */
        public Builder dataOptions(DataOptions o) {
            this.dataOptions = o;
            return this;
        }

        /** Data already loaded, instead of {@code train_file} (split by {@code eval_split} all the same). */
        public Builder trainData(PreferenceData d) {
            this.trainData = d;
            return this;
        }

        /** Held-out data already loaded, instead of {@code eval_file} or {@code eval_split}. */
        public Builder evalData(PreferenceData d) {
            this.evalData = d;
            return this;
        }

        /**
         * Tokenized pairs, used as given: not split by {@code eval_split} nor converted (give unpaired examples to an
         * unpaired loss with {@link #trainUnpaired}). For several runs over the same data (a sweep).
         */
        public Builder trainPairs(List<TokenizedPair> d) {
            this.trainPairs = d;
            return this;
        }

        /** Tokenized unpaired examples, used as given (see {@link #trainPairs}). */
        public Builder trainUnpaired(List<TokenizedUnpaired> d) {
            this.trainUnpaired = d;
            return this;
        }

        /** Tokenized held-out pairs, with {@link #trainPairs} or {@link #trainUnpaired}. */
        public Builder evalPairs(List<TokenizedPair> d) {
            this.evalPairs = d;
            return this;
        }

        /** Tokenized held-out unpaired examples. */
        public Builder evalUnpaired(List<TokenizedUnpaired> d) {
            this.evalUnpaired = d;
            return this;
        }

        /**
         * Called with the trained policy (still open, on its device) and the result, before the policy is closed:
         * to evaluate, sample from or save it in another form.
         */
        public Builder onTrained(java.util.function.BiConsumer<CausalLM, PreferenceTrainer.TrainResult> f) {
            this.onTrained = f;
            return this;
        }

        /**
         * A frozen reference already in memory, shared by several runs (a sweep); the caller keeps ownership.
         * Not with {@code use_peft}, whose reference is the base with the adapters off.
         */
        public Builder reference(CausalLM r) {
            this.reference = r;
            return this;
        }

        /** Continue the run in {@code output_dir} from its newest complete checkpoint. */
        public Builder resume(boolean r) {
            this.resume = r;
            return this;
        }

        /** Replace an earlier run's checkpoints and metrics in {@code output_dir} (other files stay). */
        public Builder overwrite(boolean o) {
            this.overwrite = o;
            return this;
        }

        /** A progress line and the trainer's messages go to this stream too (the command line: standard error). */
        public Builder console(PrintStream c) {
            this.console = c;
            return this;
        }

        /** The run's summary lines (rows read, LoRA, the start line) go here too, besides SLF4J. */
        public Builder messages(Consumer<String> m) {
            this.messages = m;
            return this;
        }

        /** Root of the precomputed-reference cache (default: none, kept in memory; the command line: ~/.cache/align4j/reference). */
        public Builder cacheDir(Path c) {
            this.cacheDir = c;
            return this;
        }

        /** A callback after every optimizer step. */
        public Builder onStep(PreferenceTrainer.StepListener l) {
            this.onStep = l;
            return this;
        }

        /** Checks the settings (not the files) and builds the run. */
        public PreferenceRun build() {
            if (config == null) {
                throw new Align4jException("PreferenceRun needs settings: Builder.config(TrainConfig) or Builder.recipe(Path)");
            }
            return new PreferenceRun(this);
        }
    }
}
