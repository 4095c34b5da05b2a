package io.github.align4j.cli;

import static io.github.align4j.cli.InitCommandTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.SequenceScorer;
import io.github.align4j.model.TextTokenizer;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LogprobsCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static final String[] TEXTS = {
        "The sun comes up over the hills.", " Paris.", " A good soup does not need to be clever; it needs time.",
        "Question: Why is the sky blue?\nAnswer:", " Ten.", " The robot read until the windows turned grey with the first light.",
        "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", " Yes.", "Grüße, 東京 🌊 and numbers 12,345.",
        " The children walk to school along the road by the water, and they stop at the bakery.",
    };

    @TempDir
    static Path dir;

    static Path model;
    static Path paired;
    static Path unpaired;
    static List<String[]> pairRows = new ArrayList<>();
    static List<String[]> unpairedRows = new ArrayList<>();

    @BeforeAll
    static void makeModelAndData() throws IOException {
        model = dir.resolve("model");
        Cli.Result r = Cli.run("init", "--model-type", "llama", "--out", model.toString(), "--seed", "3");
        assertEquals(0, r.exit(), r.toString());
        Random rnd = new Random(11);
        StringBuilder p = new StringBuilder();
        StringBuilder u = new StringBuilder();
        for (int i = 0; i < 13; i++) {
            String[] row = {TEXTS[rnd.nextInt(TEXTS.length)], TEXTS[rnd.nextInt(TEXTS.length)], TEXTS[rnd.nextInt(TEXTS.length)]};
            pairRows.add(row);
            ObjectNode o = JSON.createObjectNode().put("prompt", row[0]).put("chosen", row[1]).put("rejected", row[2]);
            p.append(JSON.writeValueAsString(o)).append('\n');
            if (i == 4) {
                p.append("\n"); // blank lines are skipped
            }
            unpairedRows.add(new String[] {row[0], row[1]});
            u.append(JSON.writeValueAsString(JSON.createObjectNode().put("prompt", row[0]).put("completion", row[1])
                    .put("label", i % 2 == 0))).append('\n');
        }
        paired = dir.resolve("pairs.jsonl");
        Files.writeString(paired, p.toString());
        unpaired = dir.resolve("kto.jsonl");
        Files.writeString(unpaired, u.toString());
    }

    /** {@code align4j logprobs ARGS --cache-dir <temp>}: the tokenized-data cache stays in the test's folder. */
    static Cli.Result logprobs(String... args) {
        String[] all = java.util.Arrays.copyOf(args, args.length + 3);
        all[args.length] = "--cache-dir";
        all[args.length + 1] = dir.resolve("cache").toString();
        System.arraycopy(all, 0, all, 1, args.length + 2);
        all[0] = "logprobs";
        return Cli.run(all);
    }

    static List<JsonNode> readLines(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(file)) {
            out.add(JSON.readTree(l));
        }
        return out;
    }

    /** TRL's tokenization and SequenceScorer, one sequence at a time: {logp, tokens}. */
    static double[] direct(CausalLM lm, TextTokenizer tok, String prompt, String completion) {
        int[] p = tok.encode(prompt);
        int[] c = tok.encode(completion);
        int[] s = new int[p.length + c.length + 1];
        System.arraycopy(p, 0, s, 0, p.length);
        System.arraycopy(c, 0, s, p.length, c.length);
        s[s.length - 1] = tok.eosId();
        try (NDManager m = lm.manager().newSubManager()) {
            SequenceScorer.Scores sc = SequenceScorer.score(lm, m, new int[][] {s}, new int[] {p.length});
            return new double[] {sc.logps().getFloat(0), sc.tokens().getFloat(0)};
        }
    }

    static void close(double expected, double actual, String what) {
        assertEquals(expected, actual, 1e-5 * Math.max(1, Math.abs(expected)), what);
    }

    @Test
    void pairedRowsMatchSequenceScorerInInputOrder() throws Exception {
        Path out = dir.resolve("paired-out.jsonl");
        Cli.Result r = logprobs("--model", model.toString(), "--data", paired.toString(), "--out", out.toString(),
                "--batch-size", "4", "--device", "cpu");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.err().startsWith("scored 13 of 13 paired rows (layout standard; 26 sequences"), r.err());
        List<JsonNode> got = readLines(out);
        assertEquals(pairRows.size(), got.size());
        try (CausalLM lm = CausalLM.load(model, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32));
                TextTokenizer tok = TextTokenizer.load(model, null)) {
            for (int i = 0; i < got.size(); i++) {
                String[] row = pairRows.get(i);
                JsonNode g = got.get(i);
                assertEquals(List.of("chosen_logps", "rejected_logps", "chosen_tokens", "rejected_tokens"), fieldNames(g));
                double[] c = direct(lm, tok, row[0], row[1]);
                double[] j = direct(lm, tok, row[0], row[2]);
                close(c[0], g.get("chosen_logps").asDouble(), "row " + i + " chosen");
                close(j[0], g.get("rejected_logps").asDouble(), "row " + i + " rejected");
                assertEquals((int) c[1], g.get("chosen_tokens").asInt());
                assertEquals((int) j[1], g.get("rejected_tokens").asInt());
                assertEquals(tok.encode(row[1]).length + 1, g.get("chosen_tokens").asInt(), "EOS is counted, row " + i);
                assertTrue(g.get("chosen_logps").asDouble() < 0);
            }
        }
        try (Stream<Path> s = Files.list(dir)) {
            assertFalse(s.anyMatch(f -> f.getFileName().toString().endsWith(".tmp")), "no temporary file left");
        }
    }

    @Test
    void unpairedRowsMatchSequenceScorer() throws Exception {
        Path gz = dir.resolve("kto.jsonl.gz");
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(gz))) {
            o.write(Files.readAllBytes(unpaired));
        }
        for (Path data : new Path[] {unpaired, gz}) {
            Path out = dir.resolve("unpaired-out.jsonl");
            Cli.Result r = logprobs("--model", model.toString(), "--data", data.toString(), "--out", out.toString(),
                    "--device", "cpu");
            assertEquals(0, r.exit(), r.toString());
            List<JsonNode> got = readLines(out);
            assertEquals(unpairedRows.size(), got.size());
            try (CausalLM lm = CausalLM.load(model, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32));
                    TextTokenizer tok = TextTokenizer.load(model, null)) {
                for (int i = 0; i < got.size(); i++) {
                    assertEquals(List.of("logps", "tokens"), fieldNames(got.get(i)));
                    double[] e = direct(lm, tok, unpairedRows.get(i)[0], unpairedRows.get(i)[1]);
                    close(e[0], got.get(i).get("logps").asDouble(), "row " + i);
                    assertEquals((int) e[1], got.get(i).get("tokens").asInt());
                }
            }
        }
    }

    @Test
    void resultsDoNotDependOnTheBatchSize() throws Exception {
        double[][] ref = null;
        for (String bs : new String[] {"1", "3", "8"}) {
            Path out = dir.resolve("bs" + bs + ".jsonl");
            Cli.Result r = logprobs("--model", model.toString(), "--data", paired.toString(), "--out", out.toString(),
                    "--batch-size", bs, "--device", "cpu");
            assertEquals(0, r.exit(), r.toString());
            List<JsonNode> got = readLines(out);
            double[][] v = new double[got.size()][];
            for (int i = 0; i < v.length; i++) {
                v[i] = new double[] {got.get(i).get("chosen_logps").asDouble(), got.get(i).get("rejected_logps").asDouble()};
            }
            if (ref == null) {
                ref = v;
            } else {
                for (int i = 0; i < v.length; i++) {
                    close(ref[i][0], v[i][0], "batch " + bs + " row " + i);
                    close(ref[i][1], v[i][1], "batch " + bs + " row " + i);
                }
            }
        }
    }

    /** Each batch's arrays live in a sub-manager that is closed: nothing accumulates on the model. */
    @Test
    void memoryStaysFlatAcrossBatches() throws Exception {
        try (CausalLM lm = CausalLM.load(model, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32));
                TextTokenizer tok = TextTokenizer.load(model, null)) {
            LogprobsCommand.Rows rows = LogprobsCommand.Rows.of(PreferenceData.load(paired.toString(),
                    DataOptions.defaults().withCacheDir(dir.resolve("cache")), tok));
            // warm-up: the model caches rotary tables and masks per sequence length on its own manager
            LogprobsCommand.score(lm, rows, 1);
            int before = lm.liveArrays();
            LogprobsCommand.Scored s = LogprobsCommand.score(lm, rows, 1); // the same 13 batches again
            assertEquals(26, s.sequences());
            assertEquals(before, lm.liveArrays(), "arrays left on the model's manager after 13 batches");
        }
    }

    /** TRL's truncation (done by the data package): the prompt keeps its end, completions their start. */
    @Test
    void truncationKeepsThePromptEndAndCutsTheCompletion() throws Exception {
        Path data = dir.resolve("long.jsonl");
        String prompt = "The children walk to school along the road by the water.";
        String completion = " They stop at the bakery, where the bread is still hot.";
        Files.writeString(data, JSON.writeValueAsString(JSON.createObjectNode().put("prompt", prompt)
                .put("completion", completion).put("label", true)) + "\n");
        Path out = dir.resolve("long-out.jsonl");
        Cli.Result r = logprobs("--model", model.toString(), "--data", data.toString(), "--out", out.toString(),
                "--max-prompt-length", "4", "--max-length", "9");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.err().contains("1 truncated"), r.err());
        JsonNode g = readLines(out).get(0);
        assertEquals(5, g.get("tokens").asInt(), "9 - 4 prompt tokens");
        try (CausalLM lm = CausalLM.load(model, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32));
                TextTokenizer tok = TextTokenizer.load(model, null);
                NDManager m = lm.manager().newSubManager()) {
            int[] p = tok.encode(prompt);
            int[] c = tok.encode(completion);
            int[] s = new int[9];
            System.arraycopy(p, p.length - 4, s, 0, 4);
            System.arraycopy(c, 0, s, 4, 5);
            float e = SequenceScorer.score(lm, m, new int[][] {s}, new int[] {4}).logps().getFloat(0);
            close(e, g.get("logps").asDouble(), "truncated row");
        }
    }

    /** A row the data package drops (its prompt alone fills --max-length) keeps its line, with nulls. */
    @Test
    void droppedRowsKeepTheirLine() throws Exception {
        Path data = dir.resolve("dropped.jsonl");
        String[][] rows = {{"Hi", " Paris."}, {"The children walk to school along the road by the water.", " Yes."}, {"Hi", " No."}};
        StringBuilder sb = new StringBuilder();
        for (String[] row : rows) {
            sb.append(JSON.writeValueAsString(JSON.createObjectNode().put("prompt", row[0]).put("chosen", row[1])
                    .put("rejected", " I do not know."))).append('\n');
        }
        Files.writeString(data, sb.toString());
        Path out = dir.resolve("dropped-out.jsonl");
        Cli.Result r = logprobs("--model", model.toString(), "--data", data.toString(), "--out", out.toString(),
                "--max-length", "10", "--max-prompt-length", "0");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.err().contains("scored 2 of 3 paired rows"), r.err());
        assertTrue(r.err().contains("prompt_too_long=1"), r.err());
        List<JsonNode> got = readLines(out);
        assertEquals(3, got.size());
        assertTrue(got.get(1).get("chosen_logps").isNull(), got.get(1).toString());
        assertTrue(got.get(1).get("dropped").asBoolean(), got.get(1).toString());
        try (CausalLM lm = CausalLM.load(model, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32));
                TextTokenizer tok = TextTokenizer.load(model, null)) {
            for (int i : new int[] {0, 2}) {
                assertFalse(got.get(i).has("dropped"));
                close(direct(lm, tok, rows[i][0], rows[i][1])[0], got.get(i).get("chosen_logps").asDouble(), "row " + i);
            }
        }
    }

    /**
     * A row longer than the model's positions is an error that names the row, the limit and the flag
     * that truncates, for GPT-2 (learned positions) and Llama (max_position_embeddings) alike.
     */
    @Test
    void rowsLongerThanThePositions() throws Exception {
        for (String[] t : new String[][] {{"gpt2", "{\"n_positions\": 12, \"n_embd\": 16, \"n_layer\": 1}", "n_positions"},
                {"llama", "{\"max_position_embeddings\": 12, \"hidden_size\": 16, \"num_hidden_layers\": 1}",
                        "max_position_embeddings"}}) {
            Path cfg = dir.resolve(t[0] + ".json");
            Files.writeString(cfg, t[1]);
            Path m = dir.resolve(t[0] + "-12");
            assertEquals(0, Cli.run("init", "--model-type", t[0], "--config", cfg.toString(), "--out", m.toString()).exit());
            Path out = dir.resolve(t[0] + "-out.jsonl");
            assertUserError(logprobs("--model", m.toString(), "--data", paired.toString(), "--out", out.toString(),
                    "--max-length", "0"), paired + ": row 0 (0-based) has ", "more than the model's " + t[2] + " (12, in config.json)",
                    "pass --max-length 12 (or less) to truncate it");
            assertFalse(Files.exists(out), "nothing written");
            Cli.Result r = logprobs("--model", m.toString(), "--data", paired.toString(), "--out", out.toString(),
                    "--max-length", "12", "--max-prompt-length", "6");
            assertEquals(0, r.exit(), r.toString());
            assertEquals(pairRows.size(), readLines(out).size());
        }
    }

    @Test
    void standardOutputAndExample() {
        Cli.Result r = logprobs("--model", model.toString(), "--data", unpaired.toString(), "--out", "-");
        assertEquals(0, r.exit(), r.toString());
        assertEquals(unpairedRows.size(), r.out().lines().count());

        r = logprobs("--example");
        assertEquals(0, r.exit(), r.toString());
        List<String> json = r.out().lines().filter(l -> l.startsWith("{\"chosen_logps\"")).toList();
        assertEquals(3, json.size(), r.out());
        assertTrue(r.out().contains("$ align4j init --model-type llama"), r.out());
    }

    @Test
    void missingModelFolder() {
        Path none = dir.resolve("no-such-model");
        assertUserError(logprobs("--model", none.toString(), "--data", paired.toString(), "--out",
                dir.resolve("x.jsonl").toString()), "--model " + none, "no such folder");
        assertUserError(logprobs("--model", dir.toString(), "--data", paired.toString(), "--out",
                dir.resolve("x.jsonl").toString()), "config.json", "not found");
        assertUserError(logprobs("--model", model.toString(), "--data", dir.resolve("none.jsonl").toString(),
                "--out", dir.resolve("x.jsonl").toString()), "none.jsonl: no such file or folder");
        assertUserError(logprobs("--model", model.toString(), "--data", paired.toString(),
                "--out", dir.resolve("no/such/dir/x.jsonl").toString()), "--out", "does not exist");
    }

    /** Bad rows are reported by the data package with file and line; no output is written. */
    @Test
    void badRowsNameFileAndLine() throws Exception {
        String good = "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n";
        String[][] cases = {
            {good + "\n{\"prompt\": \"a\", \"chosen\": \"b\"\n", " line 3: not valid JSON"},
            {good + "{\"prompt\": \"a\", \"chosen\": 5, \"rejected\": \"c\"}\n", " line 2, field 'chosen'"},
            {good + "[1, 2]\n", " line 2: expected a JSON object"},
            {"{\"prompt\": \"a\", \"completion\": \"c\", \"label\": \"yes\"}\n", " line 1, field 'label'"},
        };
        Path out = dir.resolve("bad-out.jsonl");
        for (String[] c : cases) {
            Path data = dir.resolve("bad.jsonl");
            Files.writeString(data, c[0]);
            assertUserError(logprobs("--model", model.toString(), "--data", data.toString(), "--out", out.toString()),
                    data + c[1]);
            assertFalse(Files.exists(out), "no output on error");
        }
        Path empty = dir.resolve("empty.jsonl");
        Files.writeString(empty, "\n\n");
        assertUserError(logprobs("--model", model.toString(), "--data", empty.toString(), "--out", out.toString()),
                empty.toString(), "no rows");
    }

    @Test
    void usageErrors() {
        Cli.Result r = logprobs("--model", model.toString());
        assertEquals(CliSupport.EXIT_USER, r.exit(), r.toString());
        assertTrue(r.err().contains("Missing required option '--data'"), r.toString());
        r = logprobs("--example", "--batch-size", "0");
        assertEquals(CliSupport.EXIT_USER, r.exit(), r.toString());
        assertTrue(r.err().contains("--batch-size must be at least 1"), r.toString());
        r = logprobs("--batch-size", "many");
        assertEquals(CliSupport.EXIT_USER, r.exit(), r.toString());
        assertTrue(r.err().contains("'many'"), r.toString());
        r = logprobs("--modle", "x");
        assertEquals(CliSupport.EXIT_USER, r.exit(), r.toString());
        assertTrue(r.err().contains("--model"), "suggests the right option: " + r);
        assertUserError(logprobs("--example", "--device", "tpu"), "--device 'tpu'");
    }

    private static List<String> fieldNames(JsonNode n) {
        List<String> k = new ArrayList<>();
        n.fieldNames().forEachRemaining(k::add);
        return k;
    }
}
