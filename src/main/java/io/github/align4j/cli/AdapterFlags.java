package io.github.align4j.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.model.CausalLM;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@code --adapter DIR} and {@code --torch-dtype} of the commands that load a model to score or
 * sample with it ({@code logprobs}, {@code generate}, {@code eval}): the base of {@code --model}
 * held in the given precision, with a PEFT LoRA adapter applied (not trainable).
 */
final class AdapterFlags {
    @Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT LoRA adapter (adapter_config.json, "
            + "adapter_model.safetensors) applied to --model, its base: e.g. OUTPUT/final of `align4j train --use-peft`.")
    Path adapter;

    @Option(names = "--torch-dtype", paramLabel = "float32|float16|auto", defaultValue = "float32",
            description = "Precision of the frozen weights (default: ${DEFAULT-VALUE}); float16 halves their memory, "
                    + "auto keeps the checkpoint's (half stays half), bfloat16 is held as float16.")
    String torchDtype = "float32";

    /** The options to load {@code model} (or a reference beside it) with: frozen, in --torch-dtype. */
    CausalLM.Options options(Path model, Device device) {
        DataType t = TorchDtype.resolve(torchDtype, model, "--torch-dtype");
        return new CausalLM.Options(device, false, t);
    }

    /** Fails early on a bad --torch-dtype or a missing --adapter folder. */
    void check() {
        TorchDtype.check(torchDtype, "--torch-dtype");
        if (adapter != null) {
            CliSupport.existingDir(adapter, "--adapter", "a PEFT LoRA adapter folder with adapter_config.json and "
                    + "adapter_model.safetensors");
        }
    }

    /** Loads {@code model} frozen in --torch-dtype, with --adapter applied when given. */
    CausalLM load(Path model, Device device) {
        check();
        return load(model, adapter, options(model, device));
    }

    /** Loads {@code model} with {@code opts} and applies {@code adapter} (may be null), closing the model on failure. */
    static CausalLM load(Path model, Path adapter, CausalLM.Options opts) {
        CausalLM lm = CausalLM.load(model, opts);
        if (adapter != null) {
            try {
                lm.loadAdapter(adapter, false);
            } catch (RuntimeException e) {
                lm.close();
                throw e;
            }
        }
        return lm;
    }
}
