package io.github.align4j.cli;

import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.model.SafeTensors;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * {@code torch_dtype} / {@code --torch-dtype} of frozen weights, as the commands resolve it:
 * float32 → FLOAT32; float16 and bfloat16 → FLOAT16 (DJL's engine cannot hold bfloat16); auto → the
 * checkpoint's stored type (F32 stays float32, F16 and BF16 become float16).
 */
final class TorchDtype {
    static final List<String> NAMES = List.of("float32", "float16", "auto", "bfloat16");

    private TorchDtype() {}

    /**
     * The DJL type frozen weights of {@code modelDir} are held in.
     *
     * @param flag the option or key that gave {@code name}, named in errors
     */
    static DataType resolve(String name, Path modelDir, String flag) {
        return io.github.align4j.model.internal.ModelDtypes.resolve(check(name, flag), modelDir); // the library's one mapping
    }

    /** {@code name} in lower case, when it is one of {@link #NAMES}. */
    static String check(String name, String flag) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        if (!NAMES.contains(n)) {
            throw new Align4jException(flag + " '" + name + "': expected float32, float16, bfloat16 (held as float16) or auto "
                    + "(the checkpoint's own type)");
        }
        return n;
    }

    /** A file type for {@code merge --dtype}: float32 → F32, float16 → F16, bfloat16 → BF16. */
    static SafeTensors.DType stored(String name, String flag) {
        SafeTensors.DType t = io.github.align4j.model.internal.ModelDtypes.fileType(name);
        if (t == null) {
            throw new Align4jException(flag + " '" + name + "': expected float32, float16 or bfloat16");
        }
        return t;
    }

    /** "float32" or "float16", for messages. */
    static String label(DataType t) {
        return t == DataType.FLOAT16 ? "float16" : "float32";
    }
}
