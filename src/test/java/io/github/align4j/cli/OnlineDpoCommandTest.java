package io.github.align4j.cli;

import static io.github.align4j.cli.InitCommandTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.eval.JudgeServer;
import io.github.align4j.eval.Judges;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code align4j online-dpo}: a run with a Java judge, with LoRA, with an LLM judge, and its refusals. */
class OnlineDpoCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path model;
    static Path prompts;

    @BeforeAll
    static void setUp() throws Exception {
        model = dir.resolve("model");
        Cli.Result r = Cli.run("init", "--model-type", "llama", "--out", model.toString(), "--seed", "1");
        assertEquals(0, r.exit(), r.toString());
        prompts = dir.resolve("prompts.jsonl");
        Files.writeString(prompts, "{\"prompt\": \"Hello\"}\n{\"prompt\": \"Name a colour.\"}\n{\"prompt\": \"Why?\"}\n"
                + "{\"prompt\": \"Count to three.\"}\n");
        Judges.register("cli-online-length", (p, c) -> c.length()); // longer is better
    }

    static List<JsonNode> metrics(Path out) throws Exception {
        List<JsonNode> m = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            m.add(JSON.readTree(l));
        }
        return m;
    }

    @Test
    void trainsWithAJavaJudgeAndLogsTrlsMetrics() throws Exception {
        Path out = dir.resolve("run");
        Cli.Result r = Cli.run("online-dpo", "--model", model.toString(), "--data", prompts.toString(), "--judge",
                "cli-online-length", "--output", out.toString(), "--max-steps", "2", "--batch-size", "2", "--lr", "1e-3",
                "--max-new-tokens", "4", "--num-samples", "3", "--logging-steps", "1", "--beta", "0.2", "--device", "cpu",
                "--missing-eos-penalty", "1.5");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("done: 2 steps, 12 judge calls"), r.out()); // 2 steps × 2 prompts × 3 samples
        assertTrue(Files.isRegularFile(out.resolve("final/model.safetensors")));
        JsonNode last = metrics(out).get(metrics(out).size() - 1);
        for (String k : List.of("loss", "objective/kl", "objective/entropy", "objective/non_score_reward",
                "objective/rlhf_reward", "objective/scores", "objective/scores_margin", "rewards/chosen", "rewards/rejected",
                "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected", "val/contain_eos_token", "beta")) {
            assertTrue(last.has(k), k + " in " + last);
        }
        assertEquals(0.2, last.get("beta").asDouble(), 0);
        assertTrue(last.get("objective/scores_margin").asDouble() >= 0, last.toString());
    }

    @Test
    void trainsLoraAdapters() throws Exception {
        Path out = dir.resolve("lora");
        Cli.Result r = Cli.run("online-dpo", "--model", model.toString(), "--data", prompts.toString(), "--judge",
                "cli-online-length", "--output", out.toString(), "--max-steps", "1", "--batch-size", "4", "--lr", "1e-3",
                "--max-new-tokens", "3", "--use-peft", "--lora-r", "4", "--device", "cpu");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(Files.isRegularFile(out.resolve("final/adapter_config.json")), r.toString());
        assertFalse(Files.exists(out.resolve("final/model.safetensors")));
    }

    @Test
    void asksAnLlmJudgeInBothOrders() throws Exception {
        Path out = dir.resolve("llm");
        try (JudgeServer s = new JudgeServer(q -> JudgeServer.Action.reply("[[A]]"))) { // always A: the orders disagree
            Cli.Result r = Cli.run("online-dpo", "--model", model.toString(), "--data", prompts.toString(), "--judge",
                    "openai:judge@" + s.url(), "--judge-cache", dir.resolve("cache.jsonl").toString(), "--output",
                    out.toString(), "--max-steps", "1", "--batch-size", "2", "--max-new-tokens", "3", "--device", "cpu");
            assertEquals(0, r.exit(), r.toString());
            assertTrue(r.out().contains("2 judge calls"), r.out()); // k = 2: one comparison for each of 2 prompts
            assertTrue(s.requests() >= 2 && s.requests() <= 4, "both orders of each pair: " + s.requests());
        }
    }

    @Test
    void refusesWhatItCannotRun() {
        Path out = dir.resolve("refused");
        assertUserError(Cli.run("online-dpo", "--model", model.toString(), "--data", prompts.toString(), "--judge",
                "no-such-judge", "--output", out.toString()), "no-such-judge");
        assertUserError(Cli.run("online-dpo", "--model", model.toString(), "--data", prompts.toString(), "--judge",
                "cli-online-length", "--output", out.toString(), "--num-samples", "1", "--device", "cpu"), "--num-samples");
        assertUserError(Cli.run("online-dpo", "--model", model.toString(), "--data", prompts.toString(), "--judge",
                "cli-online-length", "--output", out.toString(), "--loss-type", "kto", "--device", "cpu"), "sigmoid");
        assertFalse(Files.exists(out.resolve("metrics.jsonl")));
    }
}
