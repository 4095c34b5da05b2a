package io.github.align4j.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.SafeTensors;
import io.github.align4j.train.MergeOutput;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code align4j merge}: folds a PEFT LoRA adapter into its base, {@code W + scaling·B·A}, and writes
 * a full Hugging Face checkpoint (PEFT's {@code merge_and_unload} + {@code save_pretrained}).
 */
@Command(name = "merge", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class, sortOptions = false,
        description = {"Merge a LoRA adapter into its base model and write a full Hugging Face checkpoint "
                + "(config.json, model.safetensors, the base's tokenizer files) that needs no adapter to load.",
            "Each adapted weight becomes W + scaling * B * A, computed in float32 one tensor at a time."})
final class MergeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "BASE", description = "The base model's folder (config.json, *.safetensors, tokenizer.json).")
    Path model;

    @Option(names = "--adapter", required = true, paramLabel = "DIR",
            description = "The LoRA adapter: adapter_config.json and adapter_model.safetensors (e.g. OUTPUT/final of "
                    + "`align4j train --use-peft`, or PEFT's save_pretrained).")
    Path adapter;

    @Option(names = "--out", required = true, paramLabel = "DIR",
            description = "The folder to write: new, empty, or holding only an earlier align4j merge (see --overwrite).")
    Path out;

    @Option(names = "--dtype", paramLabel = "float32|float16|bfloat16",
            description = "Type of the written weights (default: the base's stored type).")
    String dtype;

    @Option(names = "--overwrite", description = "Replace an earlier align4j merge in --out (once the new one is complete), "
            + "and remove what an interrupted merge left there. Nothing align4j did not write is ever removed.")
    boolean overwrite;

    @Override
    public Integer call() {
        SafeTensors.DType type = dtype == null ? null : TorchDtype.stored(dtype, "--dtype");
        CliSupport.existingDir(model, "--model", "the base model's folder with config.json and model.safetensors");
        CliSupport.existingDir(adapter, "--adapter", "a PEFT LoRA adapter folder with adapter_config.json and "
                + "adapter_model.safetensors");
        PrintWriter o = spec.commandLine().getOut();
        // locked before anything loads: a second run into --out stops here, and a failure below removes
        // only this run's scratch folder (and --out, when this run made it)
        try (MergeOutput target = MergeOutput.open(out, overwrite, o::println)) {
            DataType hold; // lossless: F16 weights stay float16, F32 and BF16 are held as float32
            try (SafeTensors.Checkpoint c = SafeTensors.open(model)) {
                hold = c.dominantDType() == SafeTensors.DType.F16 ? DataType.FLOAT16 : DataType.FLOAT32;
            }
            try (CausalLM lm = AdapterFlags.load(model, adapter, new CausalLM.Options(Device.cpu(), false, hold))) {
                target.commit(dir -> lm.saveMerged(dir, model, type));
                LoraConfig c = lm.adapterConfig();
                o.printf(Locale.ROOT, "merged %s (r=%d, lora_alpha=%s, %d projections) into %s: %,d parameters as %s → %s%n",
                        adapter, c.r(), plain(c.alpha()), lm.adaptedModules().size(), model, lm.parameterCount(),
                        type != null ? dtype.trim().toLowerCase(Locale.ROOT) : "the base's type", out);
                o.flush();
                return CliSupport.EXIT_OK;
            }
        }
    }

    private static String plain(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
    }
}
