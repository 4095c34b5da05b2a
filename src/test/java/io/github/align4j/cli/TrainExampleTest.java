package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.example.TrainDpo;
import io.github.align4j.TestData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** examples/java/com/example/TrainDpo.java runs, and docs/training.md quotes it. */
class TrainExampleTest {
    @Test
    void trainExampleRunsAndIsQuoted(@TempDir Path tmp) throws Exception {
        Path cfg = tmp.resolve("cfg.json");
        Files.writeString(cfg, "{\"hidden_size\": 32, \"num_hidden_layers\": 1}");
        Path model = tmp.resolve("m");
        assertEquals(0, Cli.run("init", "--model-type", "llama", "--config", cfg.toString(), "--out", model.toString()).exit());
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            TrainDpo.main(new String[] {model.toString(),
                TestData.shared("data/preference/llamafactory_dpo_en_demo.json").toString(), tmp.resolve("out").toString(), "3"});
        } finally {
            System.setOut(old);
        }
        assertTrue(buf.toString(StandardCharsets.UTF_8).contains("held-out reward accuracy: "), buf.toString());
        assertTrue(Files.isRegularFile(tmp.resolve("out/final/model.safetensors")));
        String example = Files.readString(Path.of("examples/java/com/example/TrainDpo.java"));
        String body = example.substring(example.indexOf("        try (TextTokenizer"), example.lastIndexOf("    }\n}"));
        String doc = Files.readString(Path.of("docs/training.md"));
        for (String line : body.lines().map(String::strip).filter(l -> !l.isEmpty()).toList()) {
            assertTrue(doc.contains(line), "docs/training.md must show the example; missing: " + line);
        }
    }
}
