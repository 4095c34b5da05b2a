package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.model.Offline;
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
}
