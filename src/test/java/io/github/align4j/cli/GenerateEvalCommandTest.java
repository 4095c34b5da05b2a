package io.github.align4j.cli;

import static io.github.align4j.cli.InitCommandTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.eval.Evaluator;
import io.github.align4j.eval.Generator;
import io.github.align4j.eval.Judges;
import io.github.align4j.eval.PreferenceEval;
import io.github.align4j.eval.SamplingOptions;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code align4j generate} and {@code align4j eval} against the library calls they wrap. */
class GenerateEvalCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final CausalLM.Options CPU = new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32);

    @TempDir
    static Path dir;

    static Path model;
    static Path ref;
    static Path pairs;

    @BeforeAll
    static void makeModels() throws IOException {
        model = dir.resolve("model");
        ref = dir.resolve("ref");
        for (Object[] m : new Object[][] {{model, "1"}, {ref, "2"}}) {
            Cli.Result r = Cli.run("init", "--model-type", "llama", "--out", m[0].toString(), "--seed", (String) m[1]);
            assertEquals(0, r.exit(), r.toString());
        }
        pairs = dir.resolve("pairs.jsonl");
        Files.writeString(pairs, String.join("\n", LogprobsCommand.EXAMPLE_ROWS) + "\n");
    }

    @Test
    void generatePrintsWhatTheGeneratorReturns() throws Exception {
        Cli.Result r = Cli.run("generate", "--model", model.toString(), "--prompt", "Hello", "--max-new-tokens", "6",
                "--temperature", "0.8", "--top-k", "50", "--seed", "3", "--num-samples", "2", "--device", "cpu", "--json");
        assertEquals(0, r.exit(), r.toString());
        String[] lines = r.out().strip().split("\n");
        assertEquals(2, lines.length, r.toString());
        try (TextTokenizer tok = TextTokenizer.load(model, null); CausalLM lm = CausalLM.load(model, CPU)) {
            List<String> want = new Generator(lm, tok).generate("Hello", new SamplingOptions(6, 0.8, 1.0, 50, 3, 2), true);
            for (int j = 0; j < 2; j++) {
                JsonNode n = JSON.readTree(lines[j]);
                assertEquals("Hello", n.get("prompt").asText());
                assertEquals(j, n.get("sample").asInt());
                assertEquals(want.get(j), n.get("completion").asText());
                assertTrue(n.get("tokens").asInt() <= 6);
            }
        }
        assertTrue(r.err().contains("generated"), r.err());
    }

    @Test
    void generateReadsPromptsFromAFile() throws Exception {
        Cli.Result r = Cli.run("generate", "--model", model.toString(), "--data", pairs.toString(), "--max-new-tokens", "3",
                "--temperature", "0", "--device", "cpu", "--no-chat-template");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("--- prompt 3"), r.out());
    }

    static String cache() {
        return dir.resolve("cache").toString();
    }

    /** A chat-message dataset goes through the data package: its prompts come rendered by the template. */
    @Test
    void generateUsesTheDataPackageForOtherLayouts() throws Exception {
        Path conv = dir.resolve("conv.jsonl");
        Files.writeString(conv, "{\"chosen\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", "
                + "\"content\": \"Hello\"}], \"rejected\": [{\"role\": \"user\", \"content\": \"Hi\"}, "
                + "{\"role\": \"assistant\", \"content\": \"No\"}]}\n");
        Cli.Result r = Cli.run("generate", "--model", model.toString(), "--data", conv.toString(), "--max-new-tokens", "3",
                "--temperature", "0", "--device", "cpu", "--json", "--cache-dir", cache());
        assertEquals(0, r.exit(), r.toString());
        JsonNode n = JSON.readTree(r.out().strip());
        assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", n.get("prompt").asText());
        try (TextTokenizer tok = TextTokenizer.load(model, null); CausalLM lm = CausalLM.load(model, CPU)) {
            Generator g = new Generator(lm, tok);
            assertEquals(g.generate("Hi", SamplingOptions.greedy(3), true).get(0), n.get("completion").asText(),
                    "the same ids as a raw prompt through the template");
        }
    }

    @Test
    void generateUsageErrors() throws Exception {
        assertUserError(Cli.run("generate", "--model", model.toString()), "--prompt", "--data");
        assertUserError(Cli.run("generate", "--model", model.toString(), "--prompt", "x", "--data", pairs.toString()),
                "mutually exclusive");
        assertUserError(Cli.run("generate", "--model", model.toString(), "--prompt", "x", "--top-p", "0"), "--top-p");
        Path bad = dir.resolve("bad.jsonl");
        Files.writeString(bad, "{\"prompt\": \"a\"}\n{\"question\": \"b\"}\n");
        assertUserError(Cli.run("generate", "--model", model.toString(), "--data", bad.toString()), bad + ":2", "\"prompt\"");
    }

    @Test
    void evalEqualsEvaluatorPreference() throws Exception {
        Cli.Result r = Cli.run("eval", "--model", model.toString(), "--ref-model", ref.toString(), "--data", pairs.toString(),
                "--beta", "0.2", "--batch-size", "2", "--device", "cpu", "--json", "--cache-dir", cache());
        assertEquals(0, r.exit(), r.toString());
        JsonNode n = JSON.readTree(r.out());
        try (TextTokenizer tok = TextTokenizer.load(model, null); CausalLM lm = CausalLM.load(model, CPU);
                CausalLM rm = CausalLM.load(ref, CPU)) {
            List<TokenizedPair> ps = PreferenceData.load(pairs.toString(),
                    DataOptions.defaults().withCacheDir(dir.resolve("cache2")), tok).pairs();
            PreferenceEval e = Evaluator.preference(lm, rm, ps, 0.2, 2);
            assertEquals(3, n.get("pairs").asInt());
            assertEquals(e.accuracy(), n.get("accuracy").asDouble());
            assertEquals(e.meanMargin(), n.get("mean_margin").asDouble(), 1e-9);
            assertEquals(e.meanChosenLogps(), n.get("mean_chosen_logps").asDouble(), 1e-9);
            assertEquals(e.meanRejectedLogps(), n.get("mean_rejected_logps").asDouble(), 1e-9);
        }
        Cli.Result text = Cli.run("eval", "--model", model.toString(), "--data", pairs.toString(), "--device", "cpu",
                "--cache-dir", cache());
        assertEquals(0, text.exit(), text.toString());
        assertTrue(text.out().contains("no --ref-model") && text.out().contains("accuracy"), text.out());
    }

    @Test
    void evalWithAJudge() throws Exception {
        assertUserError(Cli.run("eval", "--model", model.toString(), "--ref-model", ref.toString(), "--data", pairs.toString(),
                "--judge", "nobody-registered-this"), "nobody-registered-this");
        Judges.register("cli-test-length", (p, c) -> c.length());
        assertUserError(Cli.run("eval", "--model", model.toString(), "--data", pairs.toString(), "--judge", "cli-test-length"),
                "--ref-model");
        Cli.Result r = Cli.run("eval", "--model", model.toString(), "--ref-model", model.toString(), "--data", pairs.toString(),
                "--judge", "cli-test-length", "--max-new-tokens", "4", "--seed", "1", "--device", "cpu", "--json");
        assertEquals(0, r.exit(), r.toString());
        JsonNode n = JSON.readTree(r.out());
        assertEquals(3, n.get("prompts").asInt());
        assertEquals(0.5, n.get("win_rate").asDouble(), "a model against itself ties everywhere");
        assertEquals(0.0, n.get("kl_to_reference").asDouble(), 1e-6);
    }
}
