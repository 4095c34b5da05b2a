package io.github.align4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.BoundedYaml;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Reads a YAML recipe into a {@link TrainConfig}: size and nesting limits, and errors that name the file and line. */
final class RecipeYaml {
    /** Keys of handbook recipes that mean nothing on this engine; accepted and reported as ignored. */
    static final Map<String, String> IGNORED = Map.ofEntries(
            Map.entry("bf16", "precision follows --dtype / the device"),
            Map.entry("fp16", "precision follows --dtype / the device"),
            Map.entry("gradient_checkpointing_kwargs", "recomputation is always layer by layer (use_reentrant means nothing here)"),
            Map.entry("push_to_hub", "align4j never uploads"),
            Map.entry("hub_model_id", "align4j never uploads"),
            Map.entry("hub_strategy", "align4j never uploads"),
            Map.entry("hub_private_repo", "align4j never uploads"),
            Map.entry("report_to", "metrics go to metrics.jsonl"),
            Map.entry("log_level", "align4j prints progress to the console"),
            Map.entry("logging_first_step", "the first step is always logged"),
            Map.entry("optim", "align4j's own AdamW is always used"),
            Map.entry("do_eval", "evaluation runs when eval data is given"),
            Map.entry("eval_strategy", "set eval_steps"),
            Map.entry("evaluation_strategy", "set eval_steps"),
            Map.entry("save_strategy", "set save_steps"),
            Map.entry("logging_strategy", "set logging_steps"),
            Map.entry("use_flash_attention_2", "attention is plain batched matrix products"),
            Map.entry("attn_implementation", "attention is plain batched matrix products"),
            Map.entry("preprocessing_num_workers", "tokenization uses all cores"),
            Map.entry("dataset_num_proc", "tokenization uses all cores"),
            Map.entry("remove_unused_columns", "not applicable"),
            Map.entry("run_name", "not applicable"),
            Map.entry("dataset_splits", "use train_file / eval_file"),
            Map.entry("dataset_mixer", "use train_file / eval_file"),
            Map.entry("bnb_4bit_quant_type", "4-bit quantization is not available (load_in_4bit); use torch_dtype float16"),
            Map.entry("use_bnb_nested_quant", "4-bit quantization is not available (load_in_4bit); use torch_dtype float16"),
            Map.entry("model_revision", "models load from local folders"),
            Map.entry("trust_remote_code", "models load from local folders"));

    private RecipeYaml() {}

    /**
     * Reads a YAML file whose top level holds trainer keys plus keys of its own (a sweep's
     * {@code grid:}): {@code otherKeys} are left to the caller. Errors name the file and line.
     */
    static TrainConfig read(Path file, TrainConfig base, List<String> ignored, java.util.Collection<String> otherKeys) {
        // bounded before SnakeYAML sees it: size, line length, one document, no aliases, nesting
        BoundedYaml.Document doc = BoundedYaml.read(file, "recipe");
        JsonNode root = doc.root();
        Map<String, Integer> lines = doc.keyLines();
        if (root == null || root.isNull() || root.isMissingNode()) {
            return base;
        }
        if (!root.isObject()) {
            throw new Align4jException(file + ": a recipe is a YAML mapping of key: value, but this file holds a "
                    + root.getNodeType().name().toLowerCase(Locale.ROOT));
        }
        TrainConfig c = base;
        var it = root.fields();
        while (it.hasNext()) {
            var e = it.next();
            if (otherKeys.contains(e.getKey())) {
                continue;
            }
            Integer line = lines.get(e.getKey());
            String where = file + (line != null ? ":" + line : "");
            if (IGNORED.containsKey(e.getKey())) {
                if (ignored != null) {
                    ignored.add(e.getKey() + " (" + IGNORED.get(e.getKey()) + ")");
                }
                continue;
            }
            JsonNode v = e.getValue();
            if (v.isArray() && e.getKey().equals("lora_target_modules")) { // TRL's recipes write it as a YAML list
                List<String> names = new ArrayList<>();
                for (JsonNode x : v) {
                    if (!x.isValueNode() || x.isNull()) {
                        throw new Align4jException(where + ": key 'lora_target_modules' must list module names, got " + x);
                    }
                    names.add(x.asText());
                }
                c = c.with(e.getKey(), names, where);
                continue;
            }
            if (v.isArray()) {
                throw new Align4jException(where + ": key '" + e.getKey() + "' must be a single value, not a list");
            }
            Object value = v.isNull() ? null : v.isTextual() ? v.asText() : v.isBoolean() ? (Object) v.asBoolean()
                    : v.isIntegralNumber() ? (v.canConvertToLong() ? (Object) v.asLong() : v.asText())
                    : v.isNumber() ? (Object) v.asDouble()
                    : v.isObject() ? mapping(v, where + ": key '" + e.getKey() + "'") : v.toString();
            c = c.with(e.getKey(), value, where);
        }
        return c;
    }

    /** A mapping of scalars (loss_weights, loss_kwargs), values as numbers, booleans or text. */
    private static Map<String, Object> mapping(JsonNode v, String where) {
        Map<String, Object> m = new LinkedHashMap<>();
        v.fields().forEachRemaining(e -> {
            JsonNode x = e.getValue();
            if (x.isContainerNode()) {
                throw new Align4jException(where + ": '" + e.getKey() + "' must be a single value (a number, true/false or text)");
            }
            m.put(e.getKey(), x.isNull() ? null : x.isBoolean() ? (Object) x.asBoolean() : x.isNumber() ? (Object) x.asDouble()
                    : x.asText());
        });
        return m;
    }
}
