package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code train --ref-logps FILE}: a reference pass done elsewhere (align4j logprobs, align4j-spark's logprobs
 * job) replaces the run's own: the same first-step loss as {@code --precompute-ref}, and a file that does not
 * belong to the data is refused naming its line.
 */
class RefLogpsCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path model;
    static Path data;
    static Path logps;

    @BeforeAll
    static void modelDataAndScores() throws Exception {
        model = dir.resolve("model");
        assertEquals(0, Cli.run("init", "--model-type", "llama", "--out", model.toString(), "--seed", "5").exit());
        String[] things = {"phone", "lamp", "chair", "kettle", "camera"};
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            String t = things[(i * 3) % things.length];
            rows.add(JSON.writeValueAsString(java.util.Map.of("prompt", "How is the " + t + " number " + i + "?",
                    "chosen", "The " + t + " is great.", "rejected", i % 2 == 0 ? "Bad." : "The " + t + " is awful, sadly.")));
        }
        data = dir.resolve("pairs.jsonl");
        Files.write(data, rows);
        logps = dir.resolve("ref.jsonl");
        Cli.Result r = Cli.run("logprobs", "--model", model.toString(), "--data", data.toString(), "--out", logps.toString(),
                "--cache-dir", dir.resolve("cache").toString());
        assertEquals(0, r.exit(), r.toString());
    }

    private static Cli.Result train(String out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", model.toString(), "--data", data.toString(), "--output",
                dir.resolve(out).toString(), "--max-steps", "2", "--batch-size", "4", "--eval-split", "0.25",
                "--logging-steps", "1", "--cache-dir", dir.resolve("cache").toString()));
        a.addAll(List.of(extra));
        return Cli.run(a.toArray(String[]::new));
    }

    private static List<JsonNode> metrics(String out) throws Exception {
        List<JsonNode> l = new ArrayList<>();
        for (String s : Files.readAllLines(dir.resolve(out).resolve("metrics.jsonl"))) {
            l.add(JSON.readTree(s));
        }
        return l;
    }

    @Test
    void aGivenReferencePassTrainsAsPrecomputeRefDoes() throws Exception {
        Cli.Result a = train("precomputed", "--precompute-ref");
        assertEquals(0, a.exit(), a.toString());
        Cli.Result b = train("given", "--ref-logps", logps.toString());
        assertEquals(0, b.exit(), b.toString());
        JsonNode first = metrics("precomputed").get(0);
        JsonNode again = metrics("given").get(0);
        assertEquals(1, first.get("step").asInt());
        double la = first.get("loss").asDouble();
        double lb = again.get("loss").asDouble();
        assertTrue(Double.isFinite(la) && la > 0, first.toString());
        assertEquals(la, lb, 1e-6 * Math.abs(la), "first-step loss: " + first + " vs " + again);
        // step 2 (after one update) and the held-out evaluation, where policy and reference differ
        JsonNode second = metrics("precomputed").get(1);
        JsonNode second2 = metrics("given").get(1);
        assertEquals(2, second.get("step").asInt());
        // the two passes lay their batches out differently (the command scores each pair's prompt once, the trainer's
        // precompute scores sequences sorted by length), so a reference log-prob may differ by float32 rounding: a few
        // ulps of |log p| (~72 here), times β = 0.1 in a reward. A wrong reference would differ by β × whole log-probs.
        double rounding = 0.1 * 4 * Math.ulp((float) Math.max(Math.abs(second.get("logps/chosen").asDouble()),
                Math.abs(second.get("logps/rejected").asDouble())));
        for (String k : List.of("loss", "rewards/chosen", "rewards/rejected", "rewards/margins")) {
            double v = second.get(k).asDouble();
            assertEquals(v, second2.get(k).asDouble(), k.equals("loss") ? 1e-6 * Math.abs(v) : 2 * rounding,
                    k + ": " + second + " vs " + second2);
        }
        assertTrue(second.get("rewards/margins").asDouble() != 0, second.toString());
        // TRL's column names work the same
        Path trl = dir.resolve("trl.jsonl");
        List<String> lines = new ArrayList<>();
        for (String s : Files.readAllLines(logps)) {
            lines.add(s.replace("\"chosen_logps\"", "\"ref_chosen_logps\"").replace("\"rejected_logps\"", "\"ref_rejected_logps\""));
        }
        Files.write(trl, lines);
        Cli.Result c = train("trl", "--ref-logps", trl.toString());
        assertEquals(0, c.exit(), c.toString());
        assertEquals(lb, metrics("trl").get(0).get("loss").asDouble(), 0.0);
    }

    @Test
    void aFileOfOtherDataOrNotLogProbsIsRefusedNamingTheLine() throws Exception {
        List<String> lines = Files.readAllLines(logps);
        Path bad = dir.resolve("bad.jsonl");
        List<String> changed = new ArrayList<>(lines);
        JsonNode l3 = JSON.readTree(lines.get(2));
        changed.set(2, lines.get(2).replace("\"chosen_tokens\":" + l3.get("chosen_tokens").asInt(),
                "\"chosen_tokens\":" + (l3.get("chosen_tokens").asInt() + 1)));
        Files.write(bad, changed);
        Cli.Result r = train("bad1", "--ref-logps", bad.toString());
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().contains(bad + " line 3 (data row 2): 'chosen_tokens'") && r.err().contains("other data"), r.err());

        changed = new ArrayList<>(lines);
        changed.set(5, "{\"chosen_logps\": 1e999, \"rejected_logps\": -3}");
        Files.write(bad, changed);
        r = train("bad2", "--ref-logps", bad.toString());
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().contains("line 6 (data row 5): 'chosen_logps' is Infinity, not a log-probability"), r.err());

        Files.write(bad, lines.subList(0, 10));
        r = train("bad3", "--ref-logps", bad.toString());
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().contains("10 lines, but the data has row 15"), r.err());

        changed = new ArrayList<>(lines);
        changed.set(1, "{\"chosen_logps\": -1, \"rejected_logps\": \u001b[31m");
        Files.write(bad, changed);
        r = train("bad4", "--ref-logps", bad.toString());
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().contains(bad + " line 2") && !r.err().contains("\u001b"), r.err());
    }
}
