package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** docs/training.md's table of recipe keys names exactly the keys TrainConfig knows, with their defaults. */
class TrainConfigDocsTest {
    @Test
    void everyKeyIsDocumentedWithItsDefault() throws Exception {
        String doc = Files.readString(Path.of("docs/training.md"));
        Matcher m = Pattern.compile("(?m)^\\| `([a-z0-9_]+)` \\| (.*) \\| (.*) \\|$").matcher(doc);
        Set<String> documented = new LinkedHashSet<>();
        TrainConfig defaults = TrainConfig.defaults();
        Map<String, String> keys = TrainConfig.keys();
        while (m.find()) {
            String key = m.group(1);
            if (!keys.containsKey(key)) {
                continue; // other tables (losses, metrics) share the layout
            }
            documented.add(key);
            Object d = defaults.asMap().get(key);
            String shown = m.group(3);
            String want = d.toString().isEmpty() ? "(none)" : "`" + d + "`";
            if (d instanceof Double x) {
                assertEquals(x, Double.parseDouble(shown.replace("`", "")), 0.0, key);
            } else {
                assertEquals(want, shown, key);
            }
        }
        assertEquals(keys.keySet(), documented, "keys in TrainConfig vs rows of docs/training.md");
        assertTrue(documented.size() > 30);
    }

    /** The second table: each key's builder method exists and takes that key, each flag is one of train's. */
    @Test
    void everyKeyIsSetTheSameWayFromJavaAndTheCommandLine() throws Exception {
        String doc = Files.readString(Path.of("docs/training.md"));
        Matcher m = Pattern.compile("(?m)^\\| ([a-z0-9_]+) \\| (.*) \\| (.*) \\|$").matcher(doc);
        Set<String> rows = new LinkedHashSet<>();
        picocli.CommandLine train = io.github.align4j.cli.Main.commandLine().getSubcommands().get("train");
        while (m.find()) {
            String key = m.group(1);
            if (!TrainConfig.keys().containsKey(key)) {
                continue; // the header row
            }
            rows.add(key);
            Matcher b = Pattern.compile("`(\\w+)\\(([\\w<>.]+)\\)`").matcher(m.group(2));
            while (b.find()) {
                if (b.group(1).equals("set")) {
                    continue;
                }
                TrainConfig.Builder builder = TrainConfig.builder();
                java.lang.reflect.Method method = java.util.Arrays.stream(TrainConfig.Builder.class.getMethods())
                        .filter(x -> x.getName().equals(b.group(1)) && x.getParameterCount() == 1).findFirst().orElse(null);
                assertTrue(method != null, key + ": no TrainConfig.Builder." + b.group(1));
                Object arg = switch (method.getParameterTypes()[0].getSimpleName()) {
                    case "double" -> (Object) ((Number) TrainConfig.defaults().get(key)).doubleValue();
                    case "int" -> (Object) ((Number) TrainConfig.defaults().get(key)).intValue();
                    case "boolean" -> (Object) TrainConfig.defaults().get(key);
                    case "String" -> (Object) TrainConfig.defaults().get(key).toString();
                    default -> null;
                };
                if (arg != null) { // the method sets this key: the builder marks it as set
                    TrainConfig.Builder after = (TrainConfig.Builder) method.invoke(builder, arg);
                    assertTrue(after.build().isSet(key), key + ": " + b.group(1) + " does not set it");
                }
            }
            Matcher f = Pattern.compile("`(--[a-z0-9-]+)").matcher(m.group(3));
            if (f.find()) {
                assertTrue(train.getCommandSpec().findOption(f.group(1)) != null, key + ": train has no " + f.group(1));
            } else {
                assertTrue(m.group(3).contains("recipe"), key + ": " + m.group(3));
            }
        }
        assertEquals(TrainConfig.keys().keySet(), rows, "keys in TrainConfig vs rows of the second table");
    }
}
