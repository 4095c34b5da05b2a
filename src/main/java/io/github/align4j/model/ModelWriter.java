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
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes what a {@link CausalLM} holds as Hugging Face files: the model folder ({@code config.json},
 * safetensors, the tokenizer files), the same with the LoRA adapters merged in, and the adapter alone
 * (PEFT's layout). Every file goes through a temporary name and is moved into place; the tokenizer
 * files are checked before anything is written. {@link RandomModel} writes its checkpoints' config and
 * tokenizer through here too.
 */
final class ModelWriter {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Files that travel with a checkpoint. */
    static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "generation_config.json", "vocab.json", "merges.txt", "tokenizer.model",
            "added_tokens.json");

    private ModelWriter() {}

    /** {@link CausalLM#save(Path, Path, long)}: the weights as they are, in the type they were stored in. */
    static void save(CausalLM lm, Path dir, Path tokenizerDir, long maxShardBytes) {
        write(lm, dir, tokenizerDir, maxShardBytes, lm.parts.storedType, Map.of());
    }

    /** {@link CausalLM#saveMerged(Path, Path, SafeTensors.DType)}. */
    static void saveMerged(CausalLM lm, Path dir, Path tokenizerDir, SafeTensors.DType dtype) {
        Adapters adapters = lm.adapters();
        if (adapters == null) {
            throw new IllegalStateException("this model has no adapters to merge");
        }
        write(lm, dir, tokenizerDir, 5_000_000_000L, dtype == null ? lm.parts.storedType : dtype,
                PeftAdapter.byWeightName(adapters));
    }

    /** {@link CausalLM#saveAdapter(Path)}. */
    static void saveAdapter(CausalLM lm, Path dir) {
        Adapters adapters = lm.adapters();
        if (adapters == null) {
            throw new IllegalStateException("this model has no adapters to save");
        }
        PeftAdapter.save(adapters, dir, lm.source() == null ? null : lm.source().toString(),
                lm.parts.linears.values().stream().anyMatch(Linear::fanInFanOut));
    }

    private static void write(CausalLM lm, Path dir, Path tokenizerDir, long maxShardBytes, SafeTensors.DType type,
            Map<String, Adapters.Lora> merge) {
        ModelConfig config = lm.config();
        Path tok = tokenizerDir != null ? tokenizerDir : lm.source();
        checkTokenizerFiles(tok);
        try {
            Files.createDirectories(dir);
            SafeTensors.DType out = type == SafeTensors.DType.BF16 || type == SafeTensors.DType.F16 ? type : SafeTensors.DType.F32;
            List<SafeTensors.Entry> entries = new ArrayList<>();
            for (Map.Entry<String, Parameter> e : lm.parts.params.entrySet()) {
                if (config.tieWordEmbeddings() && e.getKey().equals("lm_head.weight")) {
                    continue;
                }
                NDArray a = e.getValue().getArray();
                Adapters.Lora lora = merge.get(e.getKey());
                entries.add(new SafeTensors.Entry(e.getKey(), a.getShape().getShape(), () -> {
                    try (NDManager tmp = lm.parts.manager.newSubManager()) {
                        NDArray f = lora != null ? PeftAdapter.merged(lm.parts.linears.get(lora.module()), lora,
                                        lm.adapters().scaling, tmp)
                                : a.getDataType() == DataType.FLOAT32 && !a.getDevice().isGpu() ? a
                                : tmpCopy(a, tmp);
                        if (f.getDevice().isGpu()) {
                            f = f.toDevice(Device.cpu(), true);
                        }
                        ByteBuffer src = f.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                        if (!merge.isEmpty()) {
                            checkMerged(lm, e.getKey(), lora != null, src, out);
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
            writeConfigAndTokenizer(dir, config, out, tok);
        } catch (IOException e) {
            throw new Align4jException(dir + ": cannot write the model: " + e.getMessage(), e);
        }
    }

    /**
     * Refuses a merged checkpoint that would not hold the model: a weight that is NaN or infinite
     * (an adapter with huge values overflows float32), or, written as float16, beyond its range
     * (±65504, where it would become infinity).
     */
    private static void checkMerged(CausalLM lm, String tensor, boolean merged, ByteBuffer f32, SafeTensors.DType out) {
        java.nio.FloatBuffer v = f32.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        boolean half = out == SafeTensors.DType.F16;
        for (int i = 0; i < v.limit(); i++) {
            float x = v.get(i);
            if (Float.isFinite(x) && (!half || Math.abs(x) <= 65504f)) {
                continue;
            }
            String who = lm.adapterSource() != null ? "adapter " + lm.adapterSource() : "the adapter";
            String what = merged ? "merging " + who + " (scaling " + lm.adapters().scaling + ") into " + tensor
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
}
