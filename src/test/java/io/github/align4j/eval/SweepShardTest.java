package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Array jobs without Spark: {@code sweep --shard I/N} runs only its runs, {@code --report} builds the report
 * from the finished ones naming the rest, and a run begun with the same settings resumes from its checkpoint.
 */
class SweepShardTest {
    static {
        Offline.ensure();
    }

    @Test
    void shardSpecsParseAndPartitionTheRuns() {
        assertEquals(new Sweep.Shard(1, 3), Sweep.Shard.parse("1/3", null, k -> null));
        assertEquals(new Sweep.Shard(2, 4), Sweep.Shard.parse("env", 4, Map.of("JOB_COMPLETION_INDEX", "2")::get));
        assertEquals(new Sweep.Shard(5, 8), Sweep.Shard.parse("env", 8, Map.of("SLURM_ARRAY_TASK_ID", "5")::get));
        // Kubernetes' variable wins when both are set
        assertEquals(new Sweep.Shard(0, 2), Sweep.Shard.parse("env", 2,
                Map.of("JOB_COMPLETION_INDEX", "0", "SLURM_ARRAY_TASK_ID", "1")::get));
        assertTrue(assertThrows(Align4jException.class, () -> Sweep.Shard.parse("3/3", null, k -> null)).getMessage()
                .contains("I from 0 to N−1"));
        assertTrue(assertThrows(Align4jException.class, () -> Sweep.Shard.parse("a/b", null, k -> null)).getMessage()
                .contains("expected I/N"));
        assertTrue(assertThrows(Align4jException.class, () -> Sweep.Shard.parse("env", 4, k -> null)).getMessage()
                .contains("JOB_COMPLETION_INDEX"));
        assertTrue(assertThrows(Align4jException.class, () -> Sweep.Shard.parse("env", null,
                Map.of("SLURM_ARRAY_TASK_ID", "1")::get)).getMessage().contains("--shards N"));
        assertTrue(assertThrows(Align4jException.class, () -> Sweep.Shard.parse("env", 4,
                Map.of("SLURM_ARRAY_TASK_ID", "4")::get)).getMessage().contains("--array=0-3"));
        String m = assertThrows(Align4jException.class, () -> Sweep.Shard.parse("env", 4,
                Map.of("JOB_COMPLETION_INDEX", "1\u001b[2J" + "9".repeat(100))::get)).getMessage();
        assertTrue(m.contains("not a whole number") && !m.contains("\u001b") && m.length() < 200, m);
        assertTrue(assertThrows(Align4jException.class, () -> Sweep.Shard.parse("1/3", 4, k -> null)).getMessage()
                .contains("give one count"));
        // every run in exactly one shard, sizes within one of each other
        for (int n = 1; n <= 7; n++) {
            int[] size = new int[n];
            for (int run = 0; run < 30; run++) {
                int owners = 0;
                for (int i = 0; i < n; i++) {
                    if (new Sweep.Shard(i, n).owns(run)) {
                        owners++;
                        size[i]++;
                    }
                }
                assertEquals(1, owners);
            }
            int min = java.util.Arrays.stream(size).min().getAsInt();
            int max = java.util.Arrays.stream(size).max().getAsInt();
            assertTrue(max - min <= 1, n + " shards");
        }
    }

    /** A Spark task trains on the GPU it was given: device gpu:N is a valid setting, refused when there is no such GPU. */
    @Test
    void deviceNamesOneGpuOfSeveral() {
        assertEquals("gpu:1", io.github.align4j.train.TrainConfig.defaults().with("device", "gpu:1", "test").model().device().toString());
        assertThrows(Align4jException.class, () -> io.github.align4j.train.TrainConfig.defaults().with("device", "gpu:x", "test"));
        int gpus = ai.djl.engine.Engine.getInstance().getGpuCount();
        assertTrue(assertThrows(Align4jException.class, () -> io.github.align4j.internal.Devices.resolve("gpu:" + gpus))
                .getMessage().contains("DJL sees " + gpus + " GPU(s)"));
    }

    @Test
    void shardsThenReportGiveTheUnshardedResults(@TempDir Path dir) throws Exception {
        Path yaml = sweepFile(dir, dir.resolve("sharded"), "");
        Path whole = sweepFile(dir, dir.resolve("whole"), "");
        picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
        StringWriter out = new StringWriter();
        cl.setOut(new PrintWriter(out));
        assertEquals(0, cl.execute("sweep", "--config", yaml.toString(), "--shard", "0/2"), out.toString());
        Path cells = dir.resolve("sharded/cells");
        // runs 0 and 2 of dpo-0.1, dpo-0.5, ipo-0.1, ipo-0.5
        assertTrue(Files.isRegularFile(cells.resolve("dpo-beta0.1/result.json")));
        assertTrue(Files.isRegularFile(cells.resolve("ipo-beta0.1/result.json")));
        assertFalse(Files.exists(cells.resolve("dpo-beta0.5")));
        assertFalse(Files.exists(cells.resolve("ipo-beta0.5")));
        assertFalse(Files.exists(dir.resolve("sharded/results.csv")), "a shard writes no report");

        StringWriter rep = new StringWriter();
        cl.setOut(new PrintWriter(rep));
        assertEquals(0, cl.execute("sweep", "--config", yaml.toString(), "--report"), rep.toString());
        assertTrue(rep.toString().contains("partial report: 2 of 4 runs finished; not finished yet: dpo-beta0.5, ipo-beta0.5"),
                rep.toString());
        assertEquals(3, Files.readAllLines(dir.resolve("sharded/results.csv")).size());
        assertTrue(Files.readString(dir.resolve("sharded/report.html")).contains("not finished yet: dpo-beta0.5, ipo-beta0.5"));

        assertEquals(0, cl.execute("sweep", "--config", yaml.toString(), "--shard", "1/2"));
        rep = new StringWriter();
        cl.setOut(new PrintWriter(rep));
        assertEquals(0, cl.execute("sweep", "--config", yaml.toString(), "--report"));
        assertTrue(rep.toString().startsWith("report of all 4 runs"), rep.toString());

        assertEquals(0, cl.execute("sweep", "--config", whole.toString()));
        assertEquals(withoutSeconds(dir.resolve("whole/results.csv")), withoutSeconds(dir.resolve("sharded/results.csv")));
        assertEquals(5, withoutSeconds(dir.resolve("whole/results.csv")).size());
    }

    @Test
    void reportBeforeAnyRunAndBadFlagsAreRefused(@TempDir Path dir) throws Exception {
        Path yaml = sweepFile(dir, dir.resolve("out"), "shards: 4\n");
        picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err));
        cl.setOut(new PrintWriter(new StringWriter()));
        assertEquals(2, cl.execute("sweep", "--config", yaml.toString(), "--report"));
        assertTrue(err.toString().contains("no run of this sweep has finished yet (0 of 4)"), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(2, cl.execute("sweep", "--config", yaml.toString(), "--shard", "4/4"));
        assertTrue(err.toString().contains("I from 0 to N−1"), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(2, cl.execute("sweep", "--config", yaml.toString(), "--shard", "1/3"));
        assertTrue(err.toString().contains("give one count"), err.toString()); // the file says 4
        StringWriter plan = new StringWriter();
        cl.setOut(new PrintWriter(plan));
        assertEquals(0, cl.execute("sweep", "--config", yaml.toString(), "--dry-run", "--shard", "1/4"), err.toString());
        assertTrue(plan.toString().contains("shard      1/4: 1 run(s): dpo-beta0.5\n"), plan.toString());
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, Files.readString(yaml).replace("shards: 4", "shards: two"));
        err.getBuffer().setLength(0);
        assertEquals(2, cl.execute("sweep", "--config", bad.toString(), "--dry-run"));
        assertTrue(err.toString().contains("shards: expected a whole number"), err.toString());
    }

    /** A run killed after a checkpoint continues from it (a retried Spark task, a preempted pod) and ends the same. */
    @Test
    void anInterruptedRunResumesFromItsCheckpoint(@TempDir Path dir) throws Exception {
        Path yaml = sweepFile(dir, dir.resolve("out"), "save_steps: 2\n");
        Path yaml1 = dir.resolve("one.yaml");
        Files.writeString(yaml1, Files.readString(yaml).replace("loss_type: [dpo, ipo]", "loss_type: [dpo]")
                .replace("beta: [0.1, 0.5]", "beta: [0.1]"));
        SweepConfig sc = SweepConfig.load(yaml1);
        Sweep.run(sc, 0, null, null);
        Path cell = dir.resolve("out/cells/dpo-beta0.1");
        JsonNode first = new ObjectMapper().readTree(cell.resolve("result.json").toFile()).get("metrics");
        assertTrue(Files.isDirectory(cell.resolve("checkpoint-2")));
        // as if the process died after checkpoint-2: no final model, no result
        io.github.align4j.internal.FileTrees.deleteTree(cell.resolve("final"));
        if (Files.exists(cell.resolve("checkpoint-4"))) {
            io.github.align4j.internal.FileTrees.deleteTree(cell.resolve("checkpoint-4"));
        }
        Files.delete(cell.resolve("result.json"));
        var savedAt = Files.getLastModifiedTime(cell.resolve("checkpoint-2/manifest.json"));
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        Sweep.run(sc, 0, new Sweep.Shard(0, 1), new PrintStream(log, true, StandardCharsets.UTF_8));
        String said = log.toString(StandardCharsets.UTF_8);
        assertTrue(said.contains("dpo-beta0.1: resuming its unfinished run from the newest checkpoint"), said);
        assertEquals(savedAt, Files.getLastModifiedTime(cell.resolve("checkpoint-2/manifest.json")), "continued, not retrained");
        JsonNode again = new ObjectMapper().readTree(cell.resolve("result.json").toFile()).get("metrics");
        assertEquals(first, again);

        // other settings: the run in the folder is not continued but trained again from the start
        Files.delete(cell.resolve("result.json"));
        Files.writeString(yaml1, Files.readString(yaml1).replace("learning_rate: 1.0e-3", "learning_rate: 2.0e-3"));
        log.reset();
        Sweep.run(SweepConfig.load(yaml1), 0, null, new PrintStream(log, true, StandardCharsets.UTF_8));
        assertFalse(log.toString(StandardCharsets.UTF_8).contains("resuming"), log.toString(StandardCharsets.UTF_8));
        assertNotEquals(savedAt, Files.getLastModifiedTime(cell.resolve("checkpoint-2/manifest.json")));
    }

    /** results.csv without its seconds column (timings differ from run to run). */
    static List<String> withoutSeconds(Path csv) throws Exception {
        List<String> out = new ArrayList<>();
        List<String> lines = Files.readAllLines(csv);
        int col = List.of(lines.get(0).split(",")).indexOf("seconds");
        for (String l : lines) {
            List<String> f = new ArrayList<>(List.of(l.split(",", -1)));
            f.remove(col);
            out.add(String.join(",", f));
        }
        return out;
    }

    static Path sweepFile(Path dir, Path output, String extra) throws Exception {
        Path model = dir.resolve("model");
        if (!Files.isDirectory(model)) {
            SweepFixture.model(model);
        }
        Path data = dir.resolve("pairs.jsonl");
        if (!Files.exists(data)) {
            ObjectMapper json = new ObjectMapper();
            List<String> rows = new ArrayList<>();
            Random r = new Random(4);
            for (int i = 0; i < 24; i++) {
                DemoCorpus.Prompt p = DemoCorpus.trainPrompts().get(r.nextInt(144));
                rows.add(json.writeValueAsString(Map.of("prompt", p.text(), "chosen", "the " + p.product() + " is great .",
                        "rejected", "the " + p.product() + " is awful .")));
            }
            Files.write(data, rows);
        }
        Path yaml = dir.resolve(output.getFileName() + ".yaml");
        Files.writeString(yaml, String.join("\n",
                "model_name_or_path: " + model,
                "train_file: " + data,
                "eval_split: 0.25",
                "output_dir: " + output,
                "max_steps: 4",
                "per_device_train_batch_size: 4",
                "learning_rate: 1.0e-3",
                "device: cpu",
                "grid:",
                "  loss_type: [dpo, ipo]",
                "  beta: [0.1, 0.5]",
                "") + extra);
        return yaml;
    }
}
