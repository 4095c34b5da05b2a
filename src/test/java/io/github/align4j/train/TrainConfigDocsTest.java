package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
        Matcher m = Pattern.compile("(?m)^\\| ([a-z0-9_]+) \\| ([^|]*) \\| ([^|]*) \\| ([^|]*) \\|$").matcher(doc);
        Set<String> rows = new LinkedHashSet<>();
        picocli.CommandLine train = io.github.align4j.cli.Main.commandLine().getSubcommands().get("train");
        while (m.find()) {
            String key = m.group(1);
            if (!TrainConfig.keys().containsKey(key)) {
                continue; // the header row
            }
            rows.add(key);
            typedValueIsWhereTheBinderPutsIt(key, m.group(2));
            Matcher b = Pattern.compile("`(\\w+)\\(([\\w<>.]+)\\)`").matcher(m.group(3));
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
            Matcher f = Pattern.compile("`(--[a-z0-9-]+)").matcher(m.group(4));
            if (f.find()) {
                assertTrue(train.getCommandSpec().findOption(f.group(1)) != null, key + ": train has no " + f.group(1));
            } else {
                assertTrue(m.group(4).contains("recipe"), key + ": " + m.group(4));
            }
        }
        assertEquals(TrainConfig.keys().keySet(), rows, "keys in TrainConfig vs rows of the second table");
    }

    /**
     * The documented accessor chain (e.g. {@code lossSpec().beta()}) reads the value the binder stored for the key: set
     * the key to a value away from its default through the binder, then compare.
     */
    private static void typedValueIsWhereTheBinderPutsIt(String key, String cell) throws Exception {
        if (cell.contains("refused")) {
            assertThrows(io.github.align4j.Align4jException.class, () -> TrainConfig.defaults().with(key, true, "t"));
            return;
        }
        Matcher chain = Pattern.compile("^`(\\w+)\\(\\)\\.(\\w+)\\(\\)`$").matcher(cell.trim());
        assertTrue(chain.matches(), key + ": typed value '" + cell + "' is not `group().value()`");
        TrainConfig c = TrainConfig.defaults().with(key, OTHER.getOrDefault(key, otherValue(TrainConfig.defaults().get(key))), "t");
        Object group = TrainConfig.class.getMethod(chain.group(1)).invoke(c);
        Object typed = group.getClass().getMethod(chain.group(2)).invoke(group);
        Object bound = ConfigKeys.get(key, "t").get().apply(c);
        assertEquals(bound instanceof Number n ? n.longValue() + "" + n.doubleValue() : bound,
                typed instanceof Number n ? n.longValue() + "" + n.doubleValue() : typed, key);
        assertTrue(!c.get(key).equals(TrainConfig.defaults().get(key)), key + ": the test value equals the default");
    }

    private static final java.util.Map<String, Object> OTHER = java.util.Map.ofEntries(
            java.util.Map.entry("loss_weights", "dpo=1,sft=0.5"), java.util.Map.entry("loss_kwargs", "kl_detach=false"),
            java.util.Map.entry("f_divergence_type", "js_divergence"), java.util.Map.entry("lr_scheduler_type", "linear"),
            java.util.Map.entry("device", "cpu"), java.util.Map.entry("torch_dtype", "float16"),
            java.util.Map.entry("lora_target_modules", "q_proj,v_proj"), java.util.Map.entry("ld_alpha", 0.5),
            java.util.Map.entry("ref_model_mixup_alpha", 0.5), java.util.Map.entry("eval_split", 0.25),
            java.util.Map.entry("warmup_ratio", 0.25), java.util.Map.entry("lora_dropout", 0.25),
            java.util.Map.entry("adam_beta1", 0.5), java.util.Map.entry("adam_beta2", 0.5),
            java.util.Map.entry("max_steps", 7));

    private static Object otherValue(Object dflt) {
        if (dflt instanceof Boolean b) {
            return !b;
        }
        if (dflt instanceof Integer i) {
            return i + 3;
        }
        if (dflt instanceof Double d) {
            return d + 1.5;
        }
        return "other/" + dflt;
    }
}
