package io.github.align4j.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
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

/** generate --mt-bench in local mode: each model's answers file equals align4j mt-bench --answers-only's. */
class SparkMtBenchTest {
    /** The file's rows without the time stamp (FastChat's tstamp: when the row was written). */
    static List<String> rows(Path file) throws Exception {
        return Files.readAllLines(file).stream().map(l -> l.replaceAll("\"tstamp\":[0-9.E]+", "")).toList();
    }

    static List<String> local(Path out, String... model) {
        List<String> a = new ArrayList<>(List.of("mt-bench", "--answers-only", "--output", out.toString(), "--question-ids",
                "81,111,131", "--max-new-tokens", "6", "--seed", "5", "--device", "cpu"));
        a.addAll(List.of(model));
        StringWriter o = new StringWriter();
        StringWriter e = new StringWriter();
        picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
        cl.setOut(new PrintWriter(o));
        cl.setErr(new PrintWriter(e));
        assertEquals(0, cl.execute(a.toArray(String[]::new)), e.toString());
        return List.of(o.toString());
    }

    @Test
    void twoModelsOneWithAnAdapterAnswerAsTheLocalCommand(@TempDir Path dir) throws Exception {
        Path a = Tiny.model(dir.resolve("models/sft-a"), 7);
        Path b = Tiny.model(dir.resolve("models/sft-b"), 8);
        Path adapter = Tiny.adapter(b, dir.resolve("scan/cells/dpo-beta0.1/final"), 3);
        Path models = dir.resolve("models.jsonl");
        Files.writeString(models, "{\"model_id\": \"sft-a\", \"model\": \"" + a + "\"}\n\n{\"model\": \"" + b
                + "\", \"adapter\": \"" + adapter + "\"}\n");
        Path local = dir.resolve("local");
        local(local, "--model", a.toString(), "--model-id", "sft-a");
        local(local, "--model", b.toString(), "--adapter", adapter.toString());
        Path out = dir.resolve("spark");
        List<SparkMtBench.Model> ms = SparkMtBench.readModels(models);
        assertEquals(List.of(new SparkMtBench.Model("sft-a", a.toString(), null),
                new SparkMtBench.Model(null, b.toString(), adapter.toString())), ms);
        SparkSession s = SparkSession.builder().master("local[2]").appName("align4j-test").config("spark.ui.enabled", false)
                .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
        SparkMtBench.Summary sum;
        try {
            sum = SparkMtBench.run(s, new SparkMtBench.Job(ms, out.toString(), 6, 0, List.of(81, 111, 131), 5));
        } finally {
            s.stop();
        }
        assertEquals(List.of(out.resolve("model_answer/sft-a.jsonl").toAbsolutePath(),
                out.resolve("model_answer/dpo-beta0.1.jsonl").toAbsolutePath()), sum.files());
        for (String id : List.of("sft-a", "dpo-beta0.1")) {
            List<String> expected = rows(local.resolve("model_answer/" + id + ".jsonl"));
            assertEquals(3, expected.size());
            assertEquals(expected, rows(out.resolve("model_answer/" + id + ".jsonl")), id);
        }
        // the adapter matters: without it model b answers otherwise
        local(local, "--model", b.toString(), "--model-id", "sft-b");
        assertFalse(rows(local.resolve("model_answer/sft-b.jsonl")).stream().map(l -> l.replaceAll("\"(model_id|answer_id)\":\"[^\"]*\"", ""))
                .toList().equals(rows(out.resolve("model_answer/dpo-beta0.1.jsonl")).stream()
                        .map(l -> l.replaceAll("\"(model_id|answer_id)\":\"[^\"]*\"", "")).toList()));
    }

    @Test
    void badModelFilesAreRefusedNamingTheLine(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("m.jsonl");
        String[][] cases = {
            {"{\"model\": \"/m\"}\n{\"model\": \"/m\", \"adaptor\": \"/a\"}\n", "line 2: unknown key 'adaptor'"},
            {"{\"model_id\": \"x\"}\n", "line 1: no \"model\""},
            {"{\"model\": 3}\n", "line 1: \"model\" must be a text"},
            {"[1]\n", "line 1: expected an object"},
            {"{\"model\": \"/m\"\n", "line 1"},
            {"\n\n", "no models"},
        };
        for (String[] c : cases) {
            Files.writeString(f, c[0]);
            String m = assertThrows(Align4jException.class, () -> SparkMtBench.readModels(f)).getMessage();
            assertTrue(m.contains(c[1]), m);
        }
        Files.writeString(f, "{\"model\": \"" + "x".repeat(SparkMtBench.MAX_LINE + 1) + "\"}\n");
        assertTrue(assertThrows(Align4jException.class, () -> SparkMtBench.readModels(f)).getMessage().contains("longer than"));

        // two models, one answers file; relative paths on a cluster
        List<SparkMtBench.Model> twice = List.of(new SparkMtBench.Model(null, "/m/a/final", null),
                new SparkMtBench.Model("A", "/m/b", null));
        String m = assertThrows(Align4jException.class, () -> SparkMtBench.check(new SparkMtBench.Job(twice, "/out", 4, 0,
                null, 1), true)).getMessage();
        assertTrue(m.contains("models 1 and 2 would both write model_answer/A.jsonl"), m);
        List<SparkMtBench.Model> rel = List.of(new SparkMtBench.Model("x", "/m", "cells/x/final"));
        SparkMtBench.check(new SparkMtBench.Job(rel, "out", 4, 0, null, 1), true); // local mode: fine
        m = assertThrows(Align4jException.class, () -> SparkMtBench.check(new SparkMtBench.Job(rel, "/out", 4, 0, null, 1),
                false)).getMessage();
        assertTrue(m.contains("model 1: adapter 'cells/x/final' is relative"), m);
        List<SparkMtBench.Model> abs = List.of(new SparkMtBench.Model("x", "/m", null));
        m = assertThrows(Align4jException.class, () -> SparkMtBench.check(new SparkMtBench.Job(abs, "out", 4, 0, null, 1),
                false)).getMessage();
        assertTrue(m.contains("--output 'out' is relative"), m);

        // the command line: exit 2 with the flag to fix, before any Spark session starts
        for (String[] c : new String[][] {
            {"--output", "/o", "needs --models"},
            {"--models", f.toString(), "needs --output"},
            {"--models", f.toString(), "--output", "/o", "--question-ids", "81,x", "--question-ids: expected a whole number"},
            {"--models", f.toString(), "--output", "/o", "--seed", "1.5", "--seed: expected a whole number"},
            {"--models", f.toString(), "--output", "/o", "--temperature", "1", "unknown option '--temperature'"}}) {
            List<String> args = new ArrayList<>(List.of("generate", "--mt-bench"));
            args.addAll(List.of(c).subList(0, c.length - 1));
            java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
            assertEquals(2, Main.run(args.toArray(String[]::new), new java.io.PrintStream(new java.io.ByteArrayOutputStream()),
                    new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8)));
            String said = err.toString(java.nio.charset.StandardCharsets.UTF_8);
            String want = c[c.length - 1].startsWith("needs ") ? c[c.length - 1].substring(6) + " is required" : c[c.length - 1];
            assertTrue(said.startsWith("error: ") && said.contains(want), said);
        }
    }
}
