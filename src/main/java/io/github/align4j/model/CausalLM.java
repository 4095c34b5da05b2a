package io.github.align4j.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Devices;
import io.github.align4j.internal.Offline;
import io.github.align4j.internal.Texts;
import io.github.align4j.internal.TinyTokenizer;
import io.github.align4j.model.internal.ModelDtypes;
import io.github.align4j.model.internal.SequenceLimits;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face causal language model (Llama, Mistral, Qwen2 or GPT-2) on DJL's PyTorch engine.
 *
 * <pre>{@code
 * try (CausalLM lm = CausalLM.load(Path.of("my-model"), CausalLM.Options.inference())) {
 *     NDArray logits = lm.logits(ids);   // [B, T, V]
 * }
 * }</pre>
 *
 * <p>A frozen model aliases the memory-mapped safetensors on the CPU (no copy); a trainable one
 * owns a copy of its weights so that an optimizer can update them in place.
 */
public final class CausalLM implements AutoCloseable {
    static {
        Offline.ensure();
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final ModelConfig config;
    private final NDManager manager;
    private final Decoder decoder;
    private final Map<String, Parameter> params;
    private final Map<String, Shape> shapes;
    private final Map<String, Linear> linears;
    private final boolean trainable;
    private final SafeTensors.DType storedType;
    private final Path source;
    private SafeTensors.Checkpoint mapped; // kept open while arrays alias it
    private Adapters adapters; // LoRA, or null
    private Path adapterSource; // the folder the adapter was loaded from, or null
    private boolean checkpointing; // gradient checkpointing: recompute the layers in backward

    /**
     * How to load a model.
     *
     * <p>{@code dataType} is the type the weights are held in. FLOAT16 halves their memory and is for
     * frozen weights only (a reference model, a LoRA base, scoring): on the CPU it is storage only,
     * every product is computed in float32 with one weight converted at a time (float16 arithmetic
     * on the CPU is 20–100× slower than float32); on a GPU the model computes in float16 and logits
     * are upcast to float32 before the log-softmax. {@link ModelDtypes#resolve} turns a
     * {@code torch_dtype} into this type; {@link ModelDtypes#computeType} gives the activations' type.
     *
     * @param device where the weights live
     * @param trainable copy the weights and attach gradients (a policy); false for a frozen reference
     * @param dataType FLOAT32, or FLOAT16 when {@code trainable} is false (bfloat16 cannot be held by
     *     DJL's engine: {@link ModelDtypes#resolve} maps it to FLOAT16)
     */
    public record Options(Device device, boolean trainable, DataType dataType) {
        /** A frozen fp32 model on the default device. */
        public static Options inference() {
            return new Options(Devices.resolve("auto"), false, DataType.FLOAT32);
        }

        /** A trainable fp32 model on the default device. */
        public static Options training() {
            return new Options(Devices.resolve("auto"), true, DataType.FLOAT32);
        }

        public Options withDevice(Device d) {
            return new Options(d, trainable, dataType);
        }

        /** These options with the weights held as {@code t} (FLOAT32 or FLOAT16). */
        public Options withDataType(DataType t) {
            return new Options(device, trainable, t);
        }

        /** Refuses what cannot be built: a type other than FLOAT32/FLOAT16, or trainable float16 weights. */
        void check() {
            if (dataType != DataType.FLOAT32 && dataType != DataType.FLOAT16) {
                throw new Align4jException("CausalLM.Options: weights are held as FLOAT32 or FLOAT16, not " + dataType
                        + (dataType == DataType.BFLOAT16 ? " (DJL's PyTorch engine cannot hold bfloat16; ModelDtypes.resolve "
                                + "maps torch_dtype bfloat16 to FLOAT16)" : ""));
            }
            if (trainable && dataType == DataType.FLOAT16) {
                throw new Align4jException("full fine-tuning in float16 is not supported (it needs float32 master weights "
                        + "and loss scaling, which align4j does not build): train LoRA adapters on a float16 base instead "
                        + "(use_peft: true with torch_dtype: float16, or --use-peft --torch-dtype float16), "
                        + "or train all weights in float32 (torch_dtype: float32)");
            }
        }
    }

    /**
     * Checks, without loading any weight, that LoRA's {@code target_modules} select projections of a model of
     * this config (as {@link #addAdapters} would), and returns how many projections they select.
     *
     * @throws Align4jException naming a target that matches nothing and the projections there are
     */
    public static int loraTargetCount(ModelConfig config, LoraConfig lora) {
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            Layer.Registry r = new Layer.Registry();
            ModelFamily family = ModelFamily.of(config);
            family.build(config, r, m);
            return PeftAdapter.select(r.linears, lora.targetModules(), family, "lora_target_modules").size();
        }
    }

    private CausalLM(ModelConfig config, Options o, SafeTensors.DType storedType, Path source) {
        this.config = config;
        this.manager = NDManager.newBaseManager(o.device());
        Layer.Registry r = new Layer.Registry();
        this.decoder = ModelFamily.of(config).build(config, r, manager);
        this.decoder.compute = ModelDtypes.computeType(o.dataType(), o.device());
        this.params = Collections.unmodifiableMap(r.params);
        this.shapes = r.shapes;
        this.linears = Collections.unmodifiableMap(r.linears);
        this.trainable = o.trainable();
        this.storedType = storedType;
        this.source = source;
    }

    /**
     * Loads {@code config.json} and the safetensors weights of a Hugging Face model folder.
     *
     * <p>Before anything is built, config.json is checked against sane bounds and against the
     * tensors the weight files hold (their headers only); while loading, every tensor's shape is
     * checked and its values must be finite (a NaN or infinity anywhere refuses the model).
     *
     * @throws Align4jException naming the file and key or tensor when config and weights disagree,
     *     a tensor is missing or malformed, or holds a value that is not a finite number
     */
    public static CausalLM load(Path dir, Options options) {
        options.check();
        ModelConfig config = ModelConfig.load(dir);
        SafeTensors.Checkpoint ckpt = SafeTensors.open(dir);
        try {
            WeightsCheck.check(config, ckpt, Files.isDirectory(dir) ? dir.resolve("config.json") : dir);
        } catch (RuntimeException e) {
            ckpt.close();
            throw e;
        }
        CausalLM lm = new CausalLM(config, options, ckpt.dominantDType(), dir);
        boolean aliased;
        try {
            aliased = WeightLoader.fill(ckpt, config, lm.params, lm.shapes, lm.manager, options);
        } catch (RuntimeException e) {
            lm.close();
            ckpt.close();
            throw e;
        }
        if (aliased) {
            lm.mapped = ckpt;
        } else {
            ckpt.close();
        }
        return lm;
    }

    /**
     * A randomly initialised model (normal(0, 0.02) weights, unit norm weights, zero biases), in
     * float32, for tests, benchmarks and training from scratch. One {@code java.util.Random(seed)}
     * draws every weight in registration order, as align4j always has (the demo's published results
     * depend on it); {@link #init(String, Map, Path, Path, long)} streams the same values to disk.
     */
    public static CausalLM init(ModelConfig config, long seed, Options options) {
        CausalLM lm = new CausalLM(config, options.withDataType(DataType.FLOAT32), SafeTensors.DType.F32, null);
        try {
            lm.checkInitSize();
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
        RandomWeights draws = new RandomWeights(seed);
        for (Map.Entry<String, Parameter> e : lm.params.entrySet()) {
            String name = e.getKey();
            Shape s = lm.shapes.get(name);
            float[] v = new float[Math.toIntExact(s.size())];
            draws.fill(name, v.length, java.nio.FloatBuffer.wrap(v));
            NDArray a = lm.manager.create(v, s);
            a.setName(name);
            if (options.trainable()) {
                a.setRequiresGradient(true);
            }
            e.getValue().setArray(a);
        }
        return lm;
    }

    /**
     * Writes a randomly initialised Hugging Face checkpoint (config.json, model.safetensors as
     * float32, tokenizer files) into {@code outDir}, as {@code align4j init} does: weights
     * normal(0, 0.02), norm weights 1, biases 0.
     *
     * <p>config.json keys missing from {@code config} get the defaults of a tiny model (hidden
     * size 64, 2 layers; the list is in docs/cli.md); {@code vocab_size} defaults to the
     * tokenizer's size and the bos/eos ids come from its tokenizer_config.json. {@code outDir} is
     * created if needed; like {@link #save(Path)}, files of a checkpoint's names already there are
     * replaced, so give a new folder to keep an earlier model.
     *
     * <pre>{@code
     * CausalLM.Written w = CausalLM.init("llama", Map.of("hidden_size", 32, "num_hidden_layers", 1),
     *         null, Path.of("tiny-llama"), 0);
     * }</pre>
     *
     * @param modelType llama, mistral, qwen2 or gpt2; null to take {@code model_type} from {@code config}
     * @param config config.json keys (JSON-like values: numbers, strings, booleans, lists, maps, null)
     * @param tokenizerDir a folder with tokenizer.json (and tokenizer_config.json), copied into
     *     {@code outDir}; null for the tiny built-in tokenizer ({@link TinyTokenizer}: 794 tokens, ChatML)
     * @param seed the random seed: the same seed and config give the same weights
     * @throws Align4jException for an unknown type, a bad config value (naming the key) or a
     *     tokenizer folder without tokenizer.json
     */
    public static Written init(String modelType, Map<String, ?> config, Path tokenizerDir, Path outDir, long seed) {
        return init(modelType, config, "config", tokenizerDir, outDir, seed);
    }

    /**
     * {@link #init(String, Map, Path, Path, long)} with {@code configSource} naming where the keys
     * came from (a file name) in error messages.
     */
    public static Written init(String modelType, Map<String, ?> config, String configSource, Path tokenizerDir,
            Path outDir, long seed) {
        return init(modelType, config, configSource, tokenizerDir, outDir, seed, null);
    }

    /**
     * {@link #init(String, Map, String, Path, Path, long)} that reports its progress: {@code progress} is called after
     * each tensor is drawn with the parameters drawn so far and the total (a 7B model takes minutes).
     */
    public static Written init(String modelType, Map<String, ?> config, String configSource, Path tokenizerDir,
            Path outDir, long seed, java.util.function.BiConsumer<Long, Long> progress) {
        com.fasterxml.jackson.databind.JsonNode n = JSON.valueToTree(config == null ? Map.of() : config);
        return RandomModel.create(modelType, (ObjectNode) n, configSource, tokenizerDir, outDir, seed, progress);
    }

    /**
     * A checkpoint {@link #init(String, Map, Path, Path, long)} wrote.
     *
     * @param dir the folder
     * @param config its config.json
     * @param parameterCount the number of weights
     */
    public record Written(Path dir, ModelConfig config, long parameterCount) {
        /** One line: "wrote a random llama model (…parameters: vocab, hidden, layers, heads)". */
        public String summary() {
            return String.format(java.util.Locale.ROOT,
                    "wrote a random %s model (%,d parameters: vocab %d, hidden %d, %d layers, %d heads)",
                    config.modelType(), parameterCount, config.vocabSize(), config.hiddenSize(), config.numLayers(),
                    config.numHeads());
        }
    }

    /** Refuses, before allocating, a config whose tensors could not be held or saved. */
    private void checkInitSize() {
        long total = 0;
        for (Map.Entry<String, Shape> e : shapes.entrySet()) {
            long n = e.getValue().size();
            if (n < 0 || n > Integer.MAX_VALUE / 4) {
                throw new Align4jException("config.json: tensor '" + e.getKey() + "' would have shape " + e.getValue()
                        + ", over 2 GiB as float32 (align4j's limit for one tensor); lower vocab_size or the hidden size");
            }
            total += n;
        }
        long available = SequenceLimits.availableBytes(Device.cpu());
        if (available >= 0 && total * 4 > available) {
            throw new Align4jException(String.format(java.util.Locale.ROOT, "config.json: the model would have %,d "
                    + "parameters (%.1f GiB as float32) but this machine has %.1f GiB available; make it smaller",
                    total, total * 4 / (double) (1L << 30), available / (double) (1L << 30)));
        }
    }

    /** A frozen copy of this model's current weights (for a reference model), on the same device. */
    public CausalLM frozenCopy() {
        CausalLM lm = new CausalLM(config, new Options(device(), false, weightType()), storedType, source);
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            NDArray view = e.getValue().getArray().stopGradient(); // shares storage: copy it
            NDArray a = view.duplicate();
            view.close();
            a.attach(lm.manager);
            a.setName(e.getKey());
            lm.params.get(e.getKey()).setArray(a);
        }
        return lm;
    }


    // ---- LoRA adapters ----------------------------------------------------------------------------

    /**
     * Adds new LoRA adapters (PEFT's initialisation: A Kaiming-uniform, B zero, so the model still
     * equals its base) to the projections {@code config} targets, and makes them the only trainable
     * weights. The base must be frozen (loaded with {@code trainable=false}); it may be float16.
     *
     * <pre>{@code
     * CausalLM policy = CausalLM.load(base, new CausalLM.Options(device, false, DataType.FLOAT16))
     *         .addAdapters(LoraConfig.defaults().withTargetModules(List.of("all-linear")), 42);
     * }</pre>
     *
     * @return this model
     * @throws Align4jException when the model is trainable or has adapters, or a target matches no projection
     */
    public CausalLM addAdapters(LoraConfig config, long seed) {
        requireBaseForAdapters();
        adapters = PeftAdapter.create(config, PeftAdapter.select(linears, config.targetModules(), ModelFamily.of(this.config),
                "lora_target_modules"), manager, seed, true);
        decoder.adapters = adapters;
        return this;
    }

    /**
     * Loads a PEFT LoRA adapter folder ({@code adapter_config.json}, {@code adapter_model.safetensors})
     * onto this base model.
     *
     * @param trainable whether the adapter keeps training (resume) or is only applied
     * @return this model
     * @throws Align4jException naming the file and key or tensor when the adapter does not fit this base
     */
    public CausalLM loadAdapter(Path dir, boolean trainable) {
        requireBaseForAdapters();
        LoraConfig c = PeftAdapter.readConfig(dir);
        adapters = PeftAdapter.load(dir, c, PeftAdapter.select(linears, c.targetModules(), ModelFamily.of(config),
                dir.resolve(PeftAdapter.CONFIG).toString()), manager, trainable);
        decoder.adapters = adapters;
        adapterSource = dir;
        return this;
    }

    private void requireBaseForAdapters() {
        if (adapters != null) {
            throw new Align4jException("this model already has LoRA adapters");
        }
        if (trainable) {
            throw new Align4jException("LoRA trains adapters on a frozen base: load the base with trainable=false "
                    + "(e.g. new CausalLM.Options(device, false, DataType.FLOAT16))");
        }
    }

    /** The adapters, or null (tests and the package). */
    Adapters adapters() {
        return adapters;
    }

    /** The LoRA settings, or null when the model has no adapters. */
    public LoraConfig adapterConfig() {
        return adapters == null ? null : adapters.config;
    }

    /** The folder the adapter was loaded from ({@link #loadAdapter}), or null. */
    public Path adapterSource() {
        return adapterSource;
    }

    /** The adapted projections' module names, e.g. {@code model.layers.0.self_attn.q_proj}. */
    public List<String> adaptedModules() {
        return adapters == null ? List.of() : List.copyOf(adapters.byModule.keySet());
    }

    /**
     * Switches the adapters off until the returned handle is closed, as PEFT's
     * {@code with model.disable_adapter():}: the model computes exactly its base. A DPO trainer
     * scores the reference this way, with no second copy of the model.
     */
    public AdaptersOff adaptersDisabled() {
        Adapters a = adapters;
        if (a == null) {
            return () -> { };
        }
        boolean was = a.enabled;
        a.enabled = false;
        return () -> a.enabled = was;
    }

    /** A handle that switches the adapters back on when closed. */
    @FunctionalInterface
    public interface AdaptersOff extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * The weights an optimizer updates: the adapters' A and B under PEFT's names when the model has
     * trainable adapters, else every weight of a trainable model, else none.
     */
    public Map<String, NDArray> trainableParameters() {
        Map<String, NDArray> m = new LinkedHashMap<>();
        if (adapters != null) {
            for (Adapters.Lora l : adapters.byModule.values()) {
                if (l.a().getArray().hasGradient()) {
                    m.put(l.a().getName(), l.a().getArray());
                    m.put(l.b().getName(), l.b().getArray());
                }
            }
            return m;
        }
        return trainable ? parameters() : m;
    }

    /** Whether an optimizer has weights to update ({@link #trainableParameters()} is not empty). */
    public boolean hasTrainableWeights() {
        return !trainableParameters().isEmpty();
    }

    /**
     * Sets the key LoRA dropout masks are drawn from, until it is set again: a trainer sets one per
     * micro-batch (from its seed, step and micro-batch), so masks do not depend on what ran before
     * (a resumed run draws the uninterrupted run's masks). Dropout applies only in passes that
     * build a gradient graph.
     */
    public void setDropoutKey(long key) {
        if (adapters != null) {
            adapters.key(key);
        }
    }

    /**
     * Writes the adapter as PEFT's {@code save_pretrained} does: {@code adapter_config.json} (with
     * {@code base_model_name_or_path} the base's folder) and {@code adapter_model.safetensors}
     * (float32), each through a temporary file.
     */
    public void saveAdapter(Path dir) {
        if (adapters == null) {
            throw new IllegalStateException("this model has no adapters to save");
        }
        PeftAdapter.save(adapters, dir, source == null ? null : source.toString(),
                linears.values().stream().anyMatch(Linear::fanInFanOut));
    }

    /**
     * Writes a full Hugging Face checkpoint with the adapters folded in, {@code W + scaling·B·A}
     * (transposed for GPT-2's Conv1D), as PEFT's {@code merge_and_unload} + {@code save_pretrained}.
     * Weights are merged in float32 one tensor at a time and written as {@code dtype} (F32, F16 or
     * BF16; null: the base's stored type).
     */
    public void saveMerged(Path dir, Path tokenizerDir, SafeTensors.DType dtype) {
        if (adapters == null) {
            throw new IllegalStateException("this model has no adapters to merge");
        }
        saveWith(dir, tokenizerDir, 5_000_000_000L, dtype == null ? storedType : dtype, PeftAdapter.byWeightName(adapters));
    }

    /** {@link #saveMerged(Path, Path, SafeTensors.DType)} in the base's stored type, with the tokenizer of the base's folder. */
    public void saveMerged(Path dir) {
        saveMerged(dir, null, null);
    }

    /**
     * log p(completion + EOS | prompt) of each completion, as TRL's DPOTrainer computes it: prompt and completion
     * tokenized separately, EOS appended, no BOS, summed over the completion's tokens. Arrays made here are freed
     * before it returns.
     *
     * <pre>{@code
     * double[] logps = lm.score(tok, "Question: What is the capital of France?\nAnswer:", " Paris.", " I do not know.");
     * }</pre>
     *
     * @throws Align4jException when the tokenizer has no EOS token, or a sequence is longer than the model's positions
     */
    public double[] score(TextTokenizer tokenizer, String prompt, String... completions) {
        Integer eos = tokenizer.eosId();
        if (eos == null) {
            throw new Align4jException(tokenizer.dir() + ": the tokenizer has no EOS token, which TRL appends to each "
                    + "completion: set eos_token in tokenizer_config.json");
        }
        int[] p = tokenizer.encode(prompt);
        int[][] sequences = new int[completions.length][];
        int[] starts = new int[completions.length];
        for (int i = 0; i < completions.length; i++) {
            int[] c = tokenizer.encode(completions[i]);
            int[] s = java.util.Arrays.copyOf(p, p.length + c.length + 1);
            System.arraycopy(c, 0, s, p.length, c.length);
            s[s.length - 1] = eos;
            sequences[i] = s;
            starts[i] = p.length;
        }
        try (NDManager batch = manager.newSubManager()) {
            float[] f = SequenceScorer.score(this, batch, sequences, starts).logps().toFloatArray();
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) {
                d[i] = f[i];
            }
            return d;
        }
    }

    /** The type the weights are held in: FLOAT32, or FLOAT16 for a half-precision frozen model. */
    public DataType weightType() {
        return params.values().iterator().next().getArray().getDataType();
    }

    /**
     * The type activations are computed in: FLOAT16 for float16 weights on a GPU, else FLOAT32
     * (float16 weights on the CPU are storage only). Log-softmax and losses are always float32.
     */
    public DataType computeType() {
        return decoder.compute;
    }

    /** The configuration read from config.json. */
    public ModelConfig config() {
        return config;
    }

    public Device device() {
        return manager.getDevice();
    }

    /** The folder this model was loaded from, or null for a fresh {@link #init}. */
    public Path source() {
        return source;
    }

    public boolean trainable() {
        return trainable;
    }

    /** Hugging Face tensor name → the live weight array, in a stable order. */
    public Map<String, NDArray> parameters() {
        Map<String, NDArray> m = new LinkedHashMap<>();
        params.forEach((k, p) -> m.put(k, p.getArray()));
        return m;
    }

    /** Hugging Face module name → projection, every q/k/v/o/gate/up/down or c_attn/c_proj/c_fc (never the head). */
    Map<String, Linear> linears() {
        return linears;
    }

    /** The DJL block tree (for printing and inspection). */
    public ai.djl.nn.Block block() {
        return decoder;
    }

    /** The model's manager (the weights' owner); per-step arrays belong in a sub-manager of it. */
    public NDManager manager() {
        return manager;
    }

    /**
     * Hidden states after the final norm.
     *
     * @param ids [B, T] int64 token ids, right-padded (padding needs no mask: attention is causal)
     * @param cache keys and values of earlier positions, or null
     */
    public NDArray hidden(NDArray ids, KvCache cache) {
        return decoder.hidden(ids, cache, checkpointing && layersTrain());
    }

    /** Whether the decoder layers have weights that take gradients (a trainable model, or trainable adapters on). */
    private boolean layersTrain() {
        if (adapters == null) {
            return trainable;
        }
        return adapters.enabled && adapters.byModule.values().stream().anyMatch(l -> l.a().getArray().hasGradient());
    }

    /**
     * Turns gradient checkpointing (activation recomputation, transformers' {@code gradient_checkpointing})
     * on or off. On, a pass that builds a gradient graph keeps only each decoder layer's input, and
     * {@link #backward} recomputes the layers one at a time: activation memory of one layer instead of
     * all of them, for one more forward of every layer. Passes without grad mode (reference scores,
     * evaluation, generation) are never affected. Gradients are those of the plain backward.
     *
     * @return this model
     */
    public CausalLM gradientCheckpointing(boolean on) {
        checkpointing = on;
        return this;
    }

    /** Whether gradient checkpointing is on. */
    public boolean gradientCheckpointing() {
        return checkpointing;
    }

    /**
     * Backward of {@code loss} (a scalar), inside a gradient collector, in place of the collector's
     * {@code backward}: fills the gradients of the trainable weights, adding to what they hold. With
     * gradient checkpointing it also recomputes and back-propagates the layers of every pass run
     * since the last backward, last pass first, holding one layer's activations at a time.
     */
    public void backward(NDArray loss) {
        decoder.recompute.backward(loss);
    }

    /** Checkpointed passes waiting for {@link #backward} (for tests). */
    int pendingRecomputations() {
        return decoder.recompute.pending();
    }

    /** The head: [..., E] hidden states → [..., V] logits. */
    public NDArray head(NDArray hidden) {
        return decoder.logits(hidden);
    }

    /** Logits at every position: [B, T] → [B, T, V]. */
    public NDArray logits(NDArray ids) {
        return head(hidden(ids, null));
    }

    /** An empty KV cache for {@link #hidden(NDArray, KvCache)}. */
    public KvCache newCache() {
        return new KvCache(config.numLayers());
    }

    /**
     * Writes a Hugging Face model folder: {@code config.json}, safetensors (F32, or BF16 when the
     * source was BF16; sharded above {@code maxShardBytes}) and the source's tokenizer files. Every
     * file is written to a temporary name and moved into place. The tokenizer is taken from
     * {@code tokenizerDir} (null: from the source folder).
     */
    public void save(Path dir, Path tokenizerDir, long maxShardBytes) {
        saveWith(dir, tokenizerDir, maxShardBytes, storedType, Map.of());
    }

    private void saveWith(Path dir, Path tokenizerDir, long maxShardBytes, SafeTensors.DType type,
            Map<String, Adapters.Lora> merge) {
        checkTokenizerFiles(tokenizerDir != null ? tokenizerDir : source);
        try {
            Files.createDirectories(dir);
            SafeTensors.DType out = type == SafeTensors.DType.BF16 || type == SafeTensors.DType.F16 ? type : SafeTensors.DType.F32;
            List<SafeTensors.Entry> entries = new ArrayList<>();
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                if (config.tieWordEmbeddings() && e.getKey().equals("lm_head.weight")) {
                    continue;
                }
                NDArray a = e.getValue().getArray();
                Adapters.Lora lora = merge.get(e.getKey());
                entries.add(new SafeTensors.Entry(e.getKey(), a.getShape().getShape(), () -> {
                    try (NDManager tmp = manager.newSubManager()) {
                        NDArray f = lora != null ? PeftAdapter.merged(linears.get(lora.module()), lora, adapters.scaling, tmp)
                                : a.getDataType() == DataType.FLOAT32 && !a.getDevice().isGpu() ? a
                                : tmpCopy(a, tmp);
                        if (f.getDevice().isGpu()) {
                            f = f.toDevice(Device.cpu(), true);
                        }
                        ByteBuffer src = f.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                        if (!merge.isEmpty()) {
                            checkMerged(e.getKey(), lora != null, src, out);
                        }
                        if (f == a) {
                            return src;
                        }
                        ByteBuffer copy = ByteBuffer.allocateDirect(src.remaining()).order(ByteOrder.LITTLE_ENDIAN);
                        copy.put(src.duplicate()).flip();
                        return copy; // the arrays of tmp close now: hand over bytes the writer owns
                    }
                }));
            }
            SafeTensors.write(dir, entries, out, maxShardBytes);
            writeConfigAndTokenizer(dir, config, out, tokenizerDir != null ? tokenizerDir : source);
        } catch (IOException e) {
            throw new Align4jException(dir + ": cannot write the model: " + e.getMessage(), e);
        }
    }

    /**
     * Refuses a merged checkpoint that would not hold the model: a weight that is NaN or infinite
     * (an adapter with huge values overflows float32), or, written as float16, beyond its range
     * (±65504, where it would become infinity).
     */
    private void checkMerged(String tensor, boolean merged, ByteBuffer f32, SafeTensors.DType out) {
        java.nio.FloatBuffer v = f32.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        boolean half = out == SafeTensors.DType.F16;
        for (int i = 0; i < v.limit(); i++) {
            float x = v.get(i);
            if (Float.isFinite(x) && (!half || Math.abs(x) <= 65504f)) {
                continue;
            }
            String who = adapterSource != null ? "adapter " + adapterSource : "the adapter";
            String what = merged ? "merging " + who + " (scaling " + adapters.scaling + ") into " + tensor
                    : tensor + " of the base, merged with " + who + ",";
            if (!Float.isFinite(x)) {
                throw new Align4jException(what + " gives " + x + " at element " + i + ": the adapter's values are too "
                        + "large for float32, so the merged model would be broken. Nothing was written; check the adapter "
                        + "(its lora_A/lora_B values and lora_alpha).");
            }
            throw new Align4jException(what + " gives " + x + " at element " + i + ", beyond float16's range (±65504): "
                    + "as float16 it would become infinity. Nothing was written; write float32 or bfloat16 instead "
                    + "(merge --dtype float32).");
        }
    }

    /**
     * Writes {@code config.json} (with {@code torch_dtype} naming {@code weights}) and copies the
     * tokenizer files of {@code tok} (null: none), each through a temporary file: what goes beside
     * freshly written safetensors.
     */
    static void writeConfigAndTokenizer(Path dir, ModelConfig config, SafeTensors.DType weights, Path tok)
            throws IOException {
        ObjectNode cfg = config.json().deepCopy();
        cfg.put("torch_dtype", weights == SafeTensors.DType.BF16 ? "bfloat16"
                : weights == SafeTensors.DType.F16 ? "float16" : "float32");
        writeAtomically(dir.resolve("config.json"), JSON.writeValueAsBytes(cfg));
        if (tok != null && !tok.toAbsolutePath().normalize().equals(dir.toAbsolutePath().normalize())) {
            for (String f : TOKENIZER_FILES) {
                Path from = io.github.align4j.internal.FolderFiles.inside(tok, tok.resolve(f), "tokenizer folder");
                if (Files.isRegularFile(from)) {
                    writeAtomically(dir.resolve(f), Files.readAllBytes(from));
                }
            }
        }
    }

    /**
     * Hugging Face tensor name → shape of every tensor a model of {@code config} has, in checkpoint
     * order (a tied head is not one), without allocating any weight.
     */
    static Map<String, Shape> tensorShapes(ModelConfig config) {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Layer.Registry r = new Layer.Registry();
            ModelFamily.of(config).build(config, r, m);
            return new LinkedHashMap<>(r.shapes);
        }
    }

    private static NDArray tmpCopy(NDArray a, NDManager tmp) {
        NDArray c = a.toDevice(Device.cpu(), true).toType(DataType.FLOAT32, true);
        c.attach(tmp);
        return c;
    }

    /** {@link #save(Path, Path, long)} with the source's tokenizer and 5 GB shards, as transformers does. */
    public void save(Path dir) {
        save(dir, null, 5_000_000_000L);
    }

    /** Files that travel with a checkpoint. */
    static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "generation_config.json", "vocab.json", "merges.txt", "tokenizer.model",
            "added_tokens.json");

    /**
     * Refuses, before anything is written, a tokenizer file of {@code tok} (a folder, or null) that
     * {@link #writeConfigAndTokenizer} would copy but that is a link out of the folder or a FIFO.
     */
    static void checkTokenizerFiles(Path tok) {
        if (tok != null && Files.isDirectory(tok)) {
            for (String f : TOKENIZER_FILES) {
                io.github.align4j.internal.FolderFiles.inside(tok, tok.resolve(f), "tokenizer folder");
            }
        }
    }

    static void writeAtomically(Path file, byte[] bytes) throws IOException {
        io.github.align4j.internal.FileTrees.writeAtomically(file, out -> out.write(bytes));
    }

    /**
     * The name of the first weight (LoRA adapters included) holding NaN or infinity, or null when
     * all are finite: one pass over the weights on their device ({@code sum(w · 0)}, which is NaN exactly when {@code w}
     * has a NaN or an infinity), for a trainer to check before it saves weights as good.
     */
    public String firstNonFiniteWeight() {
        Map<String, Parameter> all = new LinkedHashMap<>(params);
        if (adapters != null) { // a LoRA run saves only these: they must be finite too
            for (Adapters.Lora l : adapters.byModule.values()) {
                all.put(l.a().getName(), l.a());
                all.put(l.b().getName(), l.b());
            }
        }
        for (Map.Entry<String, Parameter> e : all.entrySet()) {
            NDArray a = e.getValue().getArray();
            NDArray zeros = a.mul(0f);
            NDArray sum = zeros.sum();
            NDArray wide = sum.toType(DataType.FLOAT32, false);
            float v = wide.getFloat();
            if (wide != sum) {
                wide.close();
            }
            sum.close();
            zeros.close();
            if (!Float.isFinite(v)) {
                return e.getKey();
            }
        }
        return null;
    }

    /**
     * The error for NaN or infinite outputs of this model: it names the model folder (and the
     * adapter's) and says that its weights give non-finite values, e.g. finite adapter values so
     * large that the logits overflow float32. Scores and samples are never reported from such
     * outputs.
     *
     * @param what what came out non-finite, e.g. "log-probabilities" or "logits"
     */
    public Align4jException nonFiniteOutput(String what) {
        String name = (source == null ? "the model" : "the model " + Texts.printable(source.toString()))
                + (adapterSource == null ? "" : " with the adapter " + Texts.printable(adapterSource.toString()));
        return new Align4jException(name + ": its weights give non-finite " + what + " (NaN or infinity), so no result "
                + "is reported. The weights are damaged or too large (a diverged training run?): use another checkpoint"
                + (adapterSource == null ? "" : " or adapter") + ".");
    }

    /** Native arrays owned by this model's manager and its sub-managers (flat over a healthy run). */
    public int liveArrays() {
        return manager instanceof ai.djl.ndarray.BaseNDManager b ? b.getManagedArrays().size() : -1;
    }

    /** Number of weights. */
    public long parameterCount() {
        long n = 0;
        for (Map.Entry<String, Shape> e : shapes.entrySet()) {
            n += e.getValue().size();
        }
        return n;
    }

    @Override
    public void close() {
        manager.close();
        if (mapped != null) {
            mapped.close();
            mapped = null;
        }
    }
}
