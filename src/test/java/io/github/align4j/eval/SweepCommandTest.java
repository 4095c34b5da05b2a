package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.internal.Offline;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code align4j sweep --config} from files: JSONL data read once, a judge by name, the report, and a resumed rerun. */
class SweepCommandTest {
    static {
        Offline.ensure();
    }

    @Test
    void sweepFileRunsAndResumes(@TempDir Path dir) throws Exception {
        Path model = SweepFixture.model(dir.resolve("model"));
        ObjectMapper json = new ObjectMapper();
        List<String> rows = new ArrayList<>();
        Random r = new Random(4);
        for (int i = 0; i < 24; i++) {
            DemoCorpus.Prompt p = DemoCorpus.trainPrompts().get(r.nextInt(144));
            rows.add(json.writeValueAsString(Map.of("prompt", p.text(), "chosen", "the " + p.product() + " is great .",
                    "rejected", "the " + p.product() + " is awful .")));
        }
        Path data = dir.resolve("pairs.jsonl");
        Files.write(data, rows);
        Path yaml = dir.resolve("sweep.yaml");
        Files.writeString(yaml, String.join("\n",
                "model_name_or_path: " + model,
                "train_file: " + data,
                "eval_split: 0.25",
                "output_dir: " + dir.resolve("out"),
                "max_steps: 2",
                "per_device_train_batch_size: 4",
                "learning_rate: 1.0e-3",
                "device: cpu",
                "bf16: true",
                "judge: review-sentiment",
                "judge_samples: 1",
                "max_new_tokens: 6",
                "grid:",
                "  loss_type: [dpo, kto]",
                "  beta: [0.1]",
                ""));
        StringWriter out = new StringWriter();
        picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
        cl.setOut(new PrintWriter(out));
        assertEquals(0, cl.execute("sweep", "--config", yaml.toString()), out.toString());
        Path o = dir.resolve("out");
        for (String f : List.of("results.csv", "results.md", "report.html", "metric_vs_beta.png", "metric_vs_beta.svg",
                "reward_vs_kl.png", "reward_vs_kl.svg", "cells/dpo-beta0.1/result.json", "cells/kto-beta0.1/result.json")) {
            assertTrue(Files.isRegularFile(o.resolve(f)), f);
        }
        List<String> csv = Files.readAllLines(o.resolve("results.csv"));
        assertTrue(csv.get(0).startsWith("algorithm,beta,win_rate,"), csv.get(0));
        assertEquals(3, csv.size());
        assertTrue(Files.readString(o.resolve("report.html")).contains("judge: review-sentiment"), "the file verbatim");

        // the dry run now sees both cells finished; a rerun reuses them
        StringWriter plan = new StringWriter();
        cl.setOut(new PrintWriter(plan));
        assertEquals(0, cl.execute("sweep", "--config", yaml.toString(), "--dry-run"));
        assertTrue(plan.toString().contains("2 of 2 cells finished"), plan.toString());
        assertTrue(plan.toString().contains("24 training rows") || plan.toString().contains("18 training rows"), plan.toString());
        var before = Files.getLastModifiedTime(o.resolve("cells/dpo-beta0.1/result.json"));
        assertEquals(0, cl.execute("sweep", "--config", yaml.toString()));
        assertEquals(before, Files.getLastModifiedTime(o.resolve("cells/dpo-beta0.1/result.json")));
    }

    /** eval: mt_bench scores each cell's final model with a judge on the loopback address; its score is the table. */
    @Test
    void mtBenchEntryScoresEveryCellAndIsTheTable(@TempDir Path dir) throws Exception {
        Path model = SweepFixture.model(dir.resolve("model"));
        ObjectMapper json = new ObjectMapper();
        List<String> rows = new ArrayList<>();
        Random r = new Random(5);
        for (int i = 0; i < 16; i++) {
            DemoCorpus.Prompt p = DemoCorpus.trainPrompts().get(r.nextInt(144));
            rows.add(json.writeValueAsString(Map.of("prompt", p.text(), "chosen", "the " + p.product() + " is great .",
                    "rejected", "the " + p.product() + " is awful .")));
        }
        Path data = dir.resolve("pairs.jsonl");
        Files.write(data, rows);
        // The judge rates each prompt by its text, so the expected scores follow from the judgment files
        // whatever the tiny models answer (two cells that answer alike share the judge cache).
        try (JudgeServer s = new JudgeServer(q -> JudgeServer.Action.reply("Rating: [[" + rating(q.user()) + "]]"))) {
            Path yaml = dir.resolve("sweep.yaml");
            Files.writeString(yaml, String.join("\n",
                    "model_name_or_path: " + model,
                    "train_file: " + data,
                    "output_dir: " + dir.resolve("out"),
                    "max_steps: 3",
                    "learning_rate: 0.05",
                    "per_device_train_batch_size: 4",
                    "device: cpu",
                    "eval:",
                    "  mt_bench:",
                    "    judge_url: " + s.url(),
                    "    judge_model: judge-x",
                    "    max_new_tokens: 3",
                    "    questions: [81]",
                    "    judge_concurrency: 1",
                    "grid:",
                    "  loss_type: [dpo, ipo]",
                    "  beta: [0.1]",
                    ""));
            StringWriter out = new StringWriter();
            picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
            cl.setOut(new PrintWriter(out));
            assertEquals(0, cl.execute("sweep", "--config", yaml.toString(), "--dry-run"), out.toString());
            assertTrue(out.toString().contains("eval       MT-Bench (single grading) judged by judge-x at " + s.url()
                    + ", questions [81], 3 new tokens per turn: 4 judge calls"), out.toString());
            assertEquals(0, s.requests(), "a dry run asks nothing");
            assertEquals(0, cl.execute("sweep", "--config", yaml.toString()), out.toString());
            Path o = dir.resolve("out");
            String md = Files.readString(o.resolve("results.md"));
            assertTrue(md.contains("MT-Bench score per algorithm (rows) and β (columns)"), md);
            List<String> csv = Files.readAllLines(o.resolve("results.csv"));
            List<String> cols = List.of(csv.get(0).split(","));
            java.util.Set<String> prompts = new java.util.HashSet<>();
            String[] cells = {"dpo-beta0.1", "ipo-beta0.1"};
            for (int row = 0; row < cells.length; row++) {
                List<JsonNode> judgments = new ArrayList<>();
                try (var files = Files.list(o.resolve("cells/" + cells[row] + "/mt_bench/model_judgment"))) {
                    for (Path f : files.toList()) {
                        for (String line : Files.readAllLines(f)) {
                            judgments.add(new ObjectMapper().readTree(line));
                        }
                    }
                }
                assertEquals(2, judgments.size(), "1 question x 2 turns in " + cells[row]);
                double sum = 0;
                for (JsonNode j : judgments) {
                    String prompt = j.path("user_prompt").asText();
                    assertEquals(rating(prompt), j.path("score").asDouble(), 0.0, "the judge's rating of this prompt");
                    prompts.add(prompt);
                    sum += rating(prompt);
                }
                String[] fields = csv.get(row + 1).split(",");
                assertTrue(fields[0].equals(cells[row].substring(0, 3)), csv.get(row + 1));
                assertEquals(sum / 2, Double.parseDouble(fields[cols.indexOf("mt_bench")]), 1e-9, csv.get(row + 1));
            }
            assertEquals(prompts.size(), s.requests(), "one judge call per distinct prompt: the cache answers repeats");
            assertTrue(Files.isRegularFile(o.resolve("cells/dpo-beta0.1/mt_bench/results.json")));
            // a rerun reuses the scores: no training, no judge call
            int before = s.requests();
            assertEquals(0, cl.execute("sweep", "--config", yaml.toString()), out.toString());
            assertEquals(before, s.requests());
        }
    }

    /** The scripted judge's rating of a prompt: 1 to 10, from its text. */
    private static int rating(String userPrompt) {
        return 1 + Math.floorMod(userPrompt.hashCode(), 10);
    }

    @Test
    void evalEntryErrorsNameTheKey(@TempDir Path dir) throws Exception {
        Path yaml = dir.resolve("sweep.yaml");
        Files.writeString(yaml, "model_name_or_path: m\ntrain_file: t.jsonl\noutput_dir: o\neval:\n  mt_bench:\n"
                + "    judge_url: http://127.0.0.1:1/v1\n    judge_model: j\n    api_key: sk-x\ngrid:\n  beta: [0.1]\n");
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(io.github.align4j.Align4jException.class,
                () -> SweepConfig.load(yaml));
        assertTrue(e.getMessage().contains("eval: mt_bench: unknown key 'api_key'") && e.getMessage().contains("judge_api_key_env"),
                e.getMessage());
        Files.writeString(yaml, "model_name_or_path: m\ntrain_file: t.jsonl\noutput_dir: o\nseeds: 0\ngrid:\n  beta: [0.1]\n");
        e = org.junit.jupiter.api.Assertions.assertThrows(io.github.align4j.Align4jException.class, () -> SweepConfig.load(yaml));
        assertTrue(e.getMessage().contains("seeds (runs per cell) is 0, out of range [1, 2147483647]"), e.getMessage());
        String[][] cases = { // never rounded, never read as 0
            {"seeds: 2.5", "seeds (runs per cell) must be an integer in [1, 2147483647], got 2.5"},
            {"judge_samples: 4.9", "judge_samples must be an integer in [1, 1000000], got 4.9"},
            {"train_rows: lots", "train_rows must be an integer in [0, 2147483647], got a string"},
            {"max_new_tokens: 4611686018427387904", "max_new_tokens is 4611686018427387904, out of range [1, 2147483647]"},
        };
        for (String[] c : cases) {
            Files.writeString(yaml, "model_name_or_path: m\ntrain_file: t.jsonl\noutput_dir: o\n" + c[0] + "\ngrid:\n  beta: [0.1]\n");
            e = org.junit.jupiter.api.Assertions.assertThrows(io.github.align4j.Align4jException.class, () -> SweepConfig.load(yaml));
            assertEquals(yaml + ": " + c[1], e.getMessage());
        }
    }

    /** eval: mt_bench refuses a key over plain http to another machine when the file is read, unless judge_allow_http. */
    @Test
    void mtBenchEntryRefusesAKeyOverPlainHttpToAnotherHost(@TempDir Path dir) throws Exception {
        Path yaml = dir.resolve("sweep.yaml");
        java.util.function.Function<String, String> file = more -> "model_name_or_path: m\ntrain_file: t.jsonl\noutput_dir: o\n"
                + "eval:\n  mt_bench:\n    judge_model: j\n" + more + "grid:\n  beta: [0.1]\n";
        for (String host : new String[] {"0.0.0.0", "127.attacker.invalid"}) {
            Files.writeString(yaml, file.apply("    judge_url: http://" + host + ":8000/v1\n    judge_api_key_env: MY_KEY\n"));
            Exception e = org.junit.jupiter.api.Assertions.assertThrows(io.github.align4j.Align4jException.class,
                    () -> SweepConfig.load(yaml));
            assertTrue(e.getMessage().contains("eval: ") && e.getMessage().contains("$MY_KEY")
                    && e.getMessage().contains("unencrypted") && e.getMessage().contains("judge_allow_http"), e.getMessage());
            Files.writeString(yaml, file.apply("    judge_url: http://" + host + ":8000/v1\n    judge_api_key_env: MY_KEY\n"
                    + "    judge_allow_http: true\n"));
            assertTrue(SweepConfig.load(yaml).mtBench().allowPlainHttp());
        }
        for (String ok : new String[] {"    judge_url: http://127.0.0.1:8000/v1\n    judge_api_key_env: MY_KEY\n",
            "    judge_url: https://api.example.com/v1\n    judge_api_key_env: MY_KEY\n",
            "    judge_url: http://10.0.0.1:8000/v1\n"}) { // no key: nothing to protect
            Files.writeString(yaml, file.apply(ok));
            assertFalse(SweepConfig.load(yaml).mtBench().allowPlainHttp(), ok);
        }
        for (String bad : new String[] {"    judge_url: http://127.0.0.1:8000/v1\n    questions: [81.9]\n",
            "    judge_url: http://127.0.0.1:8000/v1\n    questions: 2.5\n",
            "    judge_url: http://127.0.0.1:8000/v1\n    max_new_tokens: 3.7\n",
            "    judge_url: http://127.0.0.1:8000/v1\n    judge_allow_http: yes please\n"}) {
            Files.writeString(yaml, file.apply(bad));
            Exception e = org.junit.jupiter.api.Assertions.assertThrows(io.github.align4j.Align4jException.class,
                    () -> SweepConfig.load(yaml), bad);
            assertTrue(e.getMessage().contains("eval: mt_bench: "), e.getMessage());
        }
    }

    /** A LoRA cell's final/ is an adapter: MT-Bench answers with the sweep's base and that adapter. */
    @Test
    void mtBenchScoresALoraCellWithItsAdapter(@TempDir Path dir) throws Exception {
        Path model = SweepFixture.model(dir.resolve("model"));
        ObjectMapper json = new ObjectMapper();
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            rows.add(json.writeValueAsString(Map.of("prompt", "Review " + i + ":", "chosen", " great .", "rejected", " awful .")));
        }
        Path data = dir.resolve("pairs.jsonl");
        Files.write(data, rows);
        try (JudgeServer s = new JudgeServer(q -> JudgeServer.Action.reply("Rating: [[7]]"))) {
            Path yaml = dir.resolve("sweep.yaml");
            Files.writeString(yaml, String.join("\n", "model_name_or_path: " + model, "train_file: " + data,
                    "output_dir: " + dir.resolve("out"), "max_steps: 2", "per_device_train_batch_size: 4", "device: cpu",
                    "use_peft: true", "lora_r: 4", "eval:", "  mt_bench:", "    judge_url: " + s.url(), "    judge_model: judge-x",
                    "    max_new_tokens: 2", "    questions: [81]", "    judge_concurrency: 1", "grid:", "  beta: [0.1]", ""));
            StringWriter out = new StringWriter();
            picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
            cl.setOut(new PrintWriter(out));
            cl.setErr(new PrintWriter(out));
            assertEquals(0, cl.execute("sweep", "--config", yaml.toString()), out.toString());
            Path cell;
            try (var cellDirs = Files.list(dir.resolve("out/cells"))) {
                cell = cellDirs.findFirst().orElseThrow();
            }
            assertTrue(Files.isRegularFile(cell.resolve("final/adapter_model.safetensors")), "a LoRA cell");
            assertTrue(Files.isRegularFile(cell.resolve("mt_bench/results.json")), out.toString());
            List<String> csv = Files.readAllLines(dir.resolve("out/results.csv"));
            List<String> cols = List.of(csv.get(0).split(","));
            assertEquals(7.0, Double.parseDouble(csv.get(1).split(",")[cols.indexOf("mt_bench")]), 1e-9, csv.toString());
        }
    }
}
