package io.github.align4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.file.Files;
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
        JsonNode root;
        Map<String, Integer> lines = new LinkedHashMap<>();
        try {
            if (Files.size(file) > 10_000_000) {
                throw new Align4jException(file + ": " + Files.size(file) + " bytes is far too large for a recipe "
                        + "(a YAML mapping of a few dozen keys); check the path");
            }
            String text = Files.readString(file);
            ObjectMapper yaml = new ObjectMapper(YAML);
            root = yaml.readTree(text);
            if (root != null && root.isObject()) {
                keyLines(yaml, text, lines);
            }
        } catch (java.nio.file.NoSuchFileException e) {
            throw new Align4jException(file + ": recipe not found");
        } catch (java.nio.charset.MalformedInputException e) {
            throw new Align4jException(file + ": not a text file (invalid UTF-8); a recipe is a YAML mapping of key: value");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            var loc = e.getLocation();
            long line = loc == null ? -1 : loc.getLineNr();
            String kind = String.valueOf(e.getOriginalMessage()).startsWith("Duplicate field") ? "a key given twice"
                    : e instanceof com.fasterxml.jackson.core.JsonParseException ? "malformed YAML" : io.github.align4j.internal.Texts.jsonKind(e);
            throw new Align4jException(file + (line > 0 ? ":" + line : "") + ": " + io.github.align4j.internal.Texts.parseError(
                    "not a valid YAML recipe", line, loc == null ? -1 : loc.getColumnNr(), kind));
        } catch (IOException | RuntimeException e) {
            if (e instanceof Align4jException a) {
                throw a;
            }
            throw new Align4jException(file + ": not a valid YAML recipe: " + (e instanceof IOException
                    ? TrainConfig.firstLine(String.valueOf(e.getMessage())) : "cannot be parsed (" + e.getClass().getSimpleName() + ")"));
        } catch (StackOverflowError e) {
            throw new Align4jException(file + ": not a valid YAML recipe: nested too deeply");
        }
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

    private static final YAMLFactory YAML = YAMLFactory.builder()
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .loaderOptions(yamlLimits())
            .build();

    /** SnakeYAML's limits, tightened: a recipe has no aliases to speak of and is small. */
    private static org.yaml.snakeyaml.LoaderOptions yamlLimits() {
        org.yaml.snakeyaml.LoaderOptions o = new org.yaml.snakeyaml.LoaderOptions();
        o.setMaxAliasesForCollections(50);
        o.setNestingDepthLimit(50);
        o.setCodePointLimit(10_000_000);
        return o;
    }

    /** The line of each top-level key, for messages that point at it. */
    private static void keyLines(ObjectMapper yaml, String text, Map<String, Integer> lines) throws IOException {
        try (com.fasterxml.jackson.core.JsonParser p = yaml.getFactory().createParser(text)) {
            int depth = 0;
            for (com.fasterxml.jackson.core.JsonToken t = p.nextToken(); t != null; t = p.nextToken()) {
                switch (t) {
                    case START_OBJECT, START_ARRAY -> depth++;
                    case END_OBJECT, END_ARRAY -> depth--;
                    case FIELD_NAME -> {
                        if (depth == 1) {
                            lines.putIfAbsent(p.currentName(), p.currentTokenLocation().getLineNr());
                        }
                    }
                    default -> { }
                }
            }
        }
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
