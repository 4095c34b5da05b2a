package io.github.align4j.model.internal;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.model.SafeTensors;
import java.nio.file.Path;
import java.util.Locale;

/**
 * {@code torch_dtype} (transformers' {@code from_pretrained(torch_dtype=...)}, TRL's
 * {@code ModelConfig.torch_dtype}, align4j's {@code --torch-dtype}) as the type a model's frozen
 * weights are held in ({@link io.github.align4j.model.CausalLM.Options#dataType()}).
 *
 * <pre>{@code
 * DataType t = ModelDtypes.resolve(cfg.torchDtype(), modelDir);   // FLOAT32 or FLOAT16
 * CausalLM ref = CausalLM.load(modelDir, new CausalLM.Options(device, false, t));
 * }</pre>
 */
public final class ModelDtypes {
    private ModelDtypes() {}

    /**
     * The type to hold a model's frozen weights in:
     * <ul>
     *   <li>{@code float32} (and null or blank: transformers' default) → FLOAT32;
     *   <li>{@code float16} → FLOAT16;
     *   <li>{@code bfloat16} → FLOAT16: DJL's PyTorch engine cannot hold bfloat16 at all (a bfloat16
     *       tensor aborts the JVM), so BF16 weights are converted to float16 while loading (exact for
     *       values of magnitude 6.1e-5 to 65504; a weight beyond ±65504 is refused when loading,
     *       naming it);
     *   <li>{@code auto} → the checkpoint's dominant stored type (the float type holding the most
     *       elements, from the safetensors headers only): F32 → FLOAT32, F16 or BF16 → FLOAT16.
     * </ul>
     * Case is ignored and a {@code torch.} prefix ({@code torch.bfloat16}) is accepted.
     *
     * @param torchDtype the setting, e.g. {@code TrainConfig.torchDtype()} or a flag's value
     * @param modelDir the model folder (read only for {@code auto}; may be null otherwise)
     * @throws Align4jException naming the value for anything else, or when {@code auto} has no
     *     readable checkpoint
     */
    public static DataType resolve(String torchDtype, Path modelDir) {
        if (torchDtype == null || torchDtype.isBlank()) {
            return DataType.FLOAT32;
        }
        String v = torchDtype.trim().toLowerCase(Locale.ROOT);
        if (v.startsWith("torch.")) {
            v = v.substring("torch.".length());
        }
        switch (v) {
            case "float32":
                return DataType.FLOAT32;
            case "float16":
            case "bfloat16":
                return DataType.FLOAT16;
            case "auto":
                if (modelDir == null) {
                    throw new Align4jException("torch_dtype 'auto' reads the model's weights to choose a type; "
                            + "give the model folder, or set float32 or float16");
                }
                try (SafeTensors.Checkpoint c = SafeTensors.open(modelDir)) {
                    return c.dominantDType() == SafeTensors.DType.F32 ? DataType.FLOAT32 : DataType.FLOAT16;
                }
            default:
                throw new Align4jException("torch_dtype '" + torchDtype + "' is not supported: expected float32, "
                        + "float16, bfloat16 (held as float16) or auto (the checkpoint's own type)");
        }
    }

    /**
     * The type a model with weights held as {@code weights} computes its activations in on
     * {@code device}: FLOAT16 only for float16 weights on a GPU; everywhere else FLOAT32 (float16
     * weights on the CPU are storage only: each is converted to float32 where it is used, because
     * float16 arithmetic on the CPU runs 20–100× slower than float32).
     */
    public static DataType computeType(DataType weights, Device device) {
        return weights == DataType.FLOAT16 && device.isGpu() ? DataType.FLOAT16 : DataType.FLOAT32;
    }

    /**
     * The safetensors element type a torch dtype name is written as: float32 → F32, float16 → F16,
     * bfloat16 → BF16 (case ignored, a {@code torch.} prefix accepted); null for anything else, for the
     * caller to refuse in its own words.
     */
    public static SafeTensors.DType fileType(String torchDtype) {
        String s = torchDtype == null ? "" : torchDtype.trim().toLowerCase(java.util.Locale.ROOT);
        if (s.startsWith("torch.")) {
            s = s.substring("torch.".length());
        }
        switch (s) {
            case "float32":
                return SafeTensors.DType.F32;
            case "float16":
                return SafeTensors.DType.F16;
            case "bfloat16":
                return SafeTensors.DType.BF16;
            default:
                return null;
        }
    }
}
