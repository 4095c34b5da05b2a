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
            if (TrainConfig.IGNORED.containsKey(e.getKey())) {
                if (ignored != null) {
                    ignored.add(e.getKey() + " (" + TrainConfig.IGNORED.get(e.getKey()) + ")");
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
