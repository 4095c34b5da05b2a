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
}
