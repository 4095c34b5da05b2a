package io.github.align4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code align4j init}: a randomly initialised Hugging Face checkpoint of any supported type, for
 * tests, benchmarks and training from scratch, through
 * {@link CausalLM#init(String, Map, String, java.nio.file.Path, java.nio.file.Path, long)}. The defaults
 * of missing config keys are listed in docs/cli.md.
 */
@Command(name = "init", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class,
        sortOptions = false,
        description = {
            "Write a randomly initialised checkpoint (config.json, model.safetensors, tokenizer files).",
            "Weights are normal(0, 0.02), norm weights 1, biases 0, as float32 (or --torch-dtype), "
                    + "streamed tensor by tensor (any size fits in memory; shards of 5 GB). "
                    + "Keys missing from --config get defaults (see docs/cli.md); "
                    + "vocab_size defaults to the tokenizer's size and bos/eos ids come from its tokenizer_config.json."
        })
final class InitCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final com.fasterxml.jackson.core.type.TypeReference<Map<String, Object>> MAP =
            new com.fasterxml.jackson.core.type.TypeReference<>() {};

    @Spec
    CommandSpec spec;

    @Option(names = "--model-type", paramLabel = "TYPE",
            description = "llama, mistral, qwen2 or gpt2. Overrides model_type in --config; required when the file has none.")
    String modelType;

    @Option(names = "--config", paramLabel = "FILE.json",
            description = "config.json keys to use (hidden_size, num_hidden_layers, ...). Without it: a tiny model of the given type.")
    Path config;

    @Option(names = "--tokenizer", paramLabel = "DIR",
            description = "A folder with tokenizer.json (and tokenizer_config.json), copied into --out. "
                    + "Default: the tiny built-in tokenizer (794 tokens, ChatML template).")
    Path tokenizer;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The folder to create.")
    Path out;

    @Option(names = "--torch-dtype", paramLabel = "float32|float16|bfloat16",
            description = "Type of the written weights; overrides torch_dtype in --config (default: float32). "
                    + "bfloat16 is what real checkpoints such as Zephyr ship.")
    String torchDtype;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--overwrite", description = "Write into --out even when it is not empty (files of the same name are replaced).")
    boolean overwrite;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        boolean created = !Files.exists(out, java.nio.file.LinkOption.NOFOLLOW_LINKS);
        boolean done = false;
        try {
            ObjectNode user = config == null ? JSON.createObjectNode() : readConfig(config);
            String source = config == null ? "--model-type " + modelType : config.toString();
            String type = modelType(user, source);
            if (torchDtype != null) {
                user.put("torch_dtype", torchDtype);
                source = source + " / --torch-dtype";
            }
            CliSupport.emptyOrOverwrite(out, "--out", overwrite);
            if (tokenizer != null) {
                CliSupport.existingDir(tokenizer, "--tokenizer", "a Hugging Face tokenizer folder with tokenizer.json");
            }
            CausalLM.Written c = CausalLM.init(type, JSON.convertValue(user, MAP), source, tokenizer, out, seed,
                    progress(spec.commandLine().getErr()));
            done = true;
            stdout.println(c.summary() + " to " + out);
            stdout.flush();
            return CliSupport.EXIT_OK;
        } finally {
            if (created && !done) {
                removeIfEmpty(out);
            }
        }
    }

    /**
     * A progress line on standard error for a model of more than 50M parameters (a 7B model takes minutes): at most one
     * a second, and one at the end.
     */
    static java.util.function.BiConsumer<Long, Long> progress(java.io.PrintWriter err) {
        long[] last = {System.nanoTime()};
        return (done, total) -> {
            if (total < 50_000_000L) {
                return;
            }
            long now = System.nanoTime();
            if (done.longValue() == total.longValue() || now - last[0] > 1_000_000_000L) {
                last[0] = now;
                err.printf(java.util.Locale.ROOT, "init: %,d of %,d parameters drawn (%.0f%%)%n", done, total, 100.0 * done / total);
                err.flush();
            }
        };
    }

    /** Removes a folder this run created when it failed before writing anything into it. */
    private static void removeIfEmpty(Path dir) {
        try {
            if (Files.isDirectory(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                Files.delete(dir); // fails, and keeps the folder, when anything is in it
            }
        } catch (IOException e) {
            // not empty (a partly written checkpoint stays for the user to see) or already gone
        }
    }

    private static ObjectNode readConfig(Path file) {
        CliSupport.existingFile(file, "--config");
        JsonNode n;
        try {
            n = JSON.readTree(file.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new Align4jException(io.github.align4j.internal.Texts.jsonError(file + ": not valid JSON", e), e);
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (n == null || !n.isObject()) {
            throw new Align4jException(file + ": expected a JSON object of config.json keys, like {\"hidden_size\": 256}");
        }
        return (ObjectNode) n;
    }

    private String modelType(ObjectNode user, String source) {
        if (modelType != null) {
            String t = modelType.trim().toLowerCase(Locale.ROOT);
            if (!ModelConfig.SUPPORTED.contains(t)) {
                throw new Align4jException("--model-type '" + modelType + "': expected one of llama, mistral, qwen2, gpt2");
            }
            return t;
        }
        JsonNode t = user.get("model_type");
        if (t == null || t.isNull()) {
            throw new Align4jException(config == null
                    ? "give --model-type (llama, mistral, qwen2 or gpt2) or a --config file with a model_type key"
                    : source + ": key 'model_type' is missing; add it or pass --model-type llama|mistral|qwen2|gpt2");
        }
        if (!t.isTextual() || !ModelConfig.SUPPORTED.contains(t.asText())) {
            throw new Align4jException(source + ": key 'model_type' is " + t + ", which align4j does not implement; "
                    + "expected one of llama, mistral, qwen2, gpt2 (or pass --model-type to override it)");
        }
        return t.asText();
    }
}
