package io.github.align4j.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The logprobs job in local mode: align4j logprobs's values, in TRL's columns, row for row. */
class SparkLogprobsTest {
    @Test
    void theJobScoresEveryRowAsAlign4jLogprobsDoes(@TempDir Path dir) throws Exception {
        Path model = Tiny.model(dir.resolve("model"));
        Path data = Tiny.pairs(dir.resolve("pairs.jsonl"), 50, 9);
        // a row the loader drops (no rejected answer) keeps its line, with nulls
        List<String> rows = new java.util.ArrayList<>(Files.readAllLines(data));
        rows.set(7, "{\"prompt\": \"How?\", \"chosen\": \"Fine.\"}");
        Files.write(data, rows);
        StringWriter err = new StringWriter();
        picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
        cl.setErr(new PrintWriter(err));
        cl.setOut(new PrintWriter(new StringWriter()));
        Path local = dir.resolve("local.jsonl");
        assertEquals(0, cl.execute("logprobs", "--model", model.toString(), "--data", data.toString(), "--out", local.toString(),
                "--skip-bad-rows", "--cache-dir", dir.resolve("cache").toString()), err.toString());
        Path spark = dir.resolve("spark.jsonl");
        SparkSession s = SparkSession.builder().master("local[2]").appName("align4j-test").config("spark.ui.enabled", false)
                .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
        SparkLogprobs.Summary sum;
        try {
            sum = SparkLogprobs.run(s, new SparkLogprobs.Job(model.toString(), null, data.toString(), 8, 1024, 512, false,
                    dir.resolve("cache").toString(), true), spark);
        } finally {
            s.stop();
        }
        assertEquals(50, sum.rowsRead());
        assertEquals(49, sum.scored());
        assertEquals(2, sum.tasks());
        ObjectMapper json = new ObjectMapper();
        List<String> a = Files.readAllLines(local);
        List<String> b = Files.readAllLines(spark);
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            JsonNode x = json.readTree(a.get(i));
            JsonNode y = json.readTree(b.get(i));
            if (i == 7) {
                assertTrue(y.get("ref_chosen_logps").isNull() && y.get("dropped").asBoolean(), b.get(i));
                continue;
            }
            assertEquals(x.get("chosen_logps").floatValue(), y.get("ref_chosen_logps").floatValue(), "row " + i);
            assertEquals(x.get("rejected_logps").floatValue(), y.get("ref_rejected_logps").floatValue(), "row " + i);
            assertEquals(x.get("chosen_tokens").asInt(), y.get("chosen_tokens").asInt());
            assertEquals(x.get("rejected_tokens").asInt(), y.get("rejected_tokens").asInt());
        }
    }
}
