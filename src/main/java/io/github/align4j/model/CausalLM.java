package io.github.align4j.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Devices;
import io.github.align4j.internal.Offline;
import java.nio.file.Path;
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

    // The public face only: the state is ModelParts; loading WeightLoader, random init RandomWeights, saving and
    // merging ModelWriter, LoRA AdapterSlot (with Adapters, PeftAdapter), scoring SequenceScorer, recomputation Recompute.
    final ModelParts parts; // config, weights, decoder, projections, where they came from
    private final AdapterSlot lora; // LoRA adapters, none until added or loaded
    private boolean checkpointing; // gradient checkpointing: recompute the layers in backward

    /**
     * How to load a model.
     *
     * <p>{@code dataType} is the type the weights are held in. FLOAT16 halves their memory and is for
     * frozen weights only (a reference model, a LoRA base, scoring): on the CPU it is storage only,
     * every product is computed in float32 with one weight converted at a time (float16 arithmetic
     * on the CPU is 20–100× slower than float32); on a GPU the model computes in float16 and logits
     * are upcast to float32 before the log-softmax. {@code ModelDtypes.resolve} turns a
     * {@code torch_dtype} into this type; {@code ModelDtypes.computeType} gives the activations' type.
     *
     * @param device where the weights live
     * @param trainable copy the weights and attach gradients (a policy); false for a frozen reference
     * @param dataType FLOAT32, or FLOAT16 when {@code trainable} is false (bfloat16 cannot be held by
     *     DJL's engine: {@code ModelDtypes.resolve} maps it to FLOAT16)
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
    }

    /**
     * Checks, without loading any weight, that LoRA's {@code target_modules} select projections of a model of
     * this config (as {@link #addAdapters} would), and returns how many projections they select.
     *
     * @throws Align4jException naming a target that matches nothing and the projections there are
     */
    public static int loraTargetCount(ModelConfig config, LoraConfig lora) {
        return AdapterSlot.targetCount(config, lora);
    }

    /** The public face of {@code parts}, once its weights are filled. */
    CausalLM(ModelParts parts) {
        this.parts = parts;
        this.lora = new AdapterSlot(parts);
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
        return WeightLoader.load(dir, options);
    }

    /**
     * A randomly initialised model (normal(0, 0.02) weights, unit norm weights, zero biases), in
     * float32, for tests, benchmarks and training from scratch. One {@code java.util.Random(seed)}
     * draws every weight in registration order, as align4j always has (the demo's published results
     * depend on it); {@link #init(String, Map, Path, Path, long)} streams the same values to disk.
     */
    public static CausalLM init(ModelConfig config, long seed, Options options) {
        return RandomWeights.model(config, seed, options);
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
     *     {@code outDir}; null for the tiny built-in tokenizer (794 tokens, ChatML)
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
        return RandomModel.create(modelType, config, configSource, tokenizerDir, outDir, seed, progress);
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

    /** A frozen copy of this model's current weights (for a reference model), on the same device. */
    public CausalLM frozenCopy() {
        return WeightLoader.frozenCopy(parts);
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
        lora.add(config, seed);
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
        lora.load(dir, trainable);
        return this;
    }

    /** The adapters, or null (tests and the package). */
    Adapters adapters() {
        return lora.adapters();
    }

    /** The LoRA settings, or null when the model has no adapters. */
    public LoraConfig adapterConfig() {
        return lora.config();
    }

    /** The folder the adapter was loaded from ({@link #loadAdapter}), or null. */
    public Path adapterSource() {
        return lora.source();
    }

    /** The adapted projections' module names, e.g. {@code model.layers.0.self_attn.q_proj}. */
    public List<String> adaptedModules() {
        return lora.modules();
    }

    /**
     * Switches the adapters off until the returned handle is closed, as PEFT's
     * {@code with model.disable_adapter():}: the model computes exactly its base. A DPO trainer
     * scores the reference this way, with no second copy of the model.
     */
    public AdaptersOff adaptersDisabled() {
        return lora.disable();
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
        return lora.adapters() != null ? lora.trainableWeights() : parts.trainable ? parameters() : new LinkedHashMap<>();
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
        lora.dropoutKey(key);
    }

    /**
     * Writes the adapter as PEFT's {@code save_pretrained} does: {@code adapter_config.json} (with
     * {@code base_model_name_or_path} the base's folder) and {@code adapter_model.safetensors}
     * (float32), each through a temporary file.
     */
    public void saveAdapter(Path dir) {
        ModelWriter.saveAdapter(this, dir);
    }

    /**
     * Writes a full Hugging Face checkpoint with the adapters folded in, {@code W + scaling·B·A}
     * (transposed for GPT-2's Conv1D), as PEFT's {@code merge_and_unload} + {@code save_pretrained}.
     * Weights are merged in float32 one tensor at a time and written as {@code dtype} (F32, F16 or
     * BF16; null: the base's stored type).
     */
    public void saveMerged(Path dir, Path tokenizerDir, SafeTensors.DType dtype) {
        ModelWriter.saveMerged(this, dir, tokenizerDir, dtype);
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
        return SequenceScorer.completions(this, tokenizer, prompt, completions);
    }

    /** The type the weights are held in: FLOAT32, or FLOAT16 for a half-precision frozen model. */
    public DataType weightType() {
        return parts.weightType();
    }

    /**
     * The type activations are computed in: FLOAT16 for float16 weights on a GPU, else FLOAT32
     * (float16 weights on the CPU are storage only). Log-softmax and losses are always float32.
     */
    public DataType computeType() {
        return parts.decoder.compute;
    }

    /** The configuration read from config.json. */
    public ModelConfig config() {
        return parts.config;
    }

    public Device device() {
        return parts.manager.getDevice();
    }

    /** The folder this model was loaded from, or null for a fresh {@link #init}. */
    public Path source() {
        return parts.source;
    }

    public boolean trainable() {
        return parts.trainable;
    }

    /** Hugging Face tensor name → the live weight array, in a stable order. */
    public Map<String, NDArray> parameters() {
        return parts.arrays();
    }

    /** Hugging Face module name → projection, every q/k/v/o/gate/up/down or c_attn/c_proj/c_fc (never the head). */
    Map<String, Linear> linears() {
        return parts.linears;
    }

    /** The DJL block tree (for printing and inspection). */
    public ai.djl.nn.Block block() {
        return parts.decoder;
    }

    /** The model's manager (the weights' owner); per-step arrays belong in a sub-manager of it. */
    public NDManager manager() {
        return parts.manager;
    }

    /**
     * Hidden states after the final norm.
     *
     * @param ids [B, T] int64 token ids, right-padded (padding needs no mask: attention is causal)
     * @param cache keys and values of earlier positions, or null
     */
    public NDArray hidden(NDArray ids, KvCache cache) {
        return parts.decoder.hidden(ids, cache, checkpointing && lora.layersTrain());
    }

    /** {@link #hidden(NDArray, KvCache)} of packed rows (no cache): each token's position and branch as {@code packing} says. */
    NDArray packedHidden(NDArray ids, Packing packing) {
        return packing == null ? hidden(ids, (KvCache) null)
                : parts.decoder.hidden(ids, packing, checkpointing && lora.layersTrain());
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
        parts.decoder.recompute.backward(loss);
    }

    /** Checkpointed passes waiting for {@link #backward} (for tests). */
    int pendingRecomputations() {
        return parts.decoder.recompute.pending();
    }

    /** The head: [..., E] hidden states → [..., V] logits. */
    public NDArray head(NDArray hidden) {
        return parts.decoder.logits(hidden);
    }

    /** Logits at every position: [B, T] → [B, T, V]. */
    public NDArray logits(NDArray ids) {
        return head(hidden(ids, null));
    }

    /** An empty KV cache for {@link #hidden(NDArray, KvCache)}. */
    public KvCache newCache() {
        return new KvCache(parts.config.numLayers());
    }

    /**
     * Writes a Hugging Face model folder: {@code config.json}, safetensors (F32, or BF16 when the
     * source was BF16; sharded above {@code maxShardBytes}) and the source's tokenizer files. Every
     * file is written to a temporary name and moved into place. The tokenizer is taken from
     * {@code tokenizerDir} (null: from the source folder).
     */
    public void save(Path dir, Path tokenizerDir, long maxShardBytes) {
        ModelWriter.save(this, dir, tokenizerDir, maxShardBytes);
    }

    /** {@link #save(Path, Path, long)} with the source's tokenizer and 5 GB shards, as transformers does. */
    public void save(Path dir) {
        save(dir, null, 5_000_000_000L);
    }

    /**
     * The name of the first weight (LoRA adapters included) holding NaN or infinity, or null when
     * all are finite: one pass over the weights on their device ({@code sum(w · 0)}, which is NaN exactly when {@code w}
     * has a NaN or an infinity), for a trainer to check before it saves weights as good.
     */
    public String firstNonFiniteWeight() {
        Map<String, Parameter> all = new LinkedHashMap<>(parts.params);
        all.putAll(lora.weights()); // a LoRA run saves only these: they must be finite too
        return WeightsCheck.firstNonFinite(all);
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
        return WeightsCheck.nonFiniteOutput(parts.source, lora.source(), what);
    }

    /** Native arrays owned by this model's manager and its sub-managers (flat over a healthy run). */
    public int liveArrays() {
        return parts.manager instanceof ai.djl.ndarray.BaseNDManager b ? b.getManagedArrays().size() : -1;
    }

    /** Number of weights. */
    public long parameterCount() {
        return parts.parameterCount();
    }

    @Override
    public void close() {
        parts.close();
    }
}
