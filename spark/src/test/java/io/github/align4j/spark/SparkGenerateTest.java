package io.github.align4j.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The generate job in local mode: align4j generate --json's lines, prompt for prompt, sample for sample. */
class SparkGenerateTest {
    @Test
    void theJobSamplesAsAlign4jGenerateDoes(@TempDir Path dir) throws Exception {
        Path model = Tiny.model(dir.resolve("model"));
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            rows.add("{\"prompt\": \"Tell me about the " + Tiny.PRODUCTS[i % Tiny.PRODUCTS.length] + " number " + i + ".\"}");
        }
        Path prompts = dir.resolve("prompts.jsonl");
        Files.write(prompts, rows);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        assertEquals(0, cl.execute("generate", "--model", model.toString(), "--data", prompts.toString(), "--json",
                "--max-new-tokens", "12", "--temperature", "0.8", "--seed", "7", "--num-samples", "2", "--device", "cpu"),
                err.toString());
        List<String> expected = out.toString().lines().toList();
        assertEquals(18, expected.size());
        Path spark = dir.resolve("samples.jsonl");
        SparkSession s = SparkSession.builder().master("local[2]").appName("align4j-test").config("spark.ui.enabled", false)
                .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
        try {
            long n = SparkGenerate.run(s, new SparkGenerate.Job(model.toString(), null, 12, 0.8, 1.0, 0, 7, 2, true), prompts,
                    spark);
            assertEquals(18, n);
        } finally {
            s.stop();
        }
        assertEquals(expected, Files.readAllLines(spark));
    }

    @Test
    void aPromptTableWithoutPromptsIsRefusedNamingTheLine(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("p.jsonl");
        Files.writeString(f, "{\"prompt\": \"a\"}\n\n{\"question\": \"b\"}\n");
        String m = org.junit.jupiter.api.Assertions.assertThrows(Align4jException.class, () -> SparkGenerate.readPrompts(f))
                .getMessage();
        assertTrue(m.contains("line 3: no \"prompt\" text field"), m);
        Files.writeString(f, "{\"prompt\": \"a\"\n");
        m = org.junit.jupiter.api.Assertions.assertThrows(Align4jException.class, () -> SparkGenerate.readPrompts(f)).getMessage();
        assertTrue(m.contains("line 1"), m);
    }
}
