package io.github.align4j.cli;

import static io.github.align4j.cli.InitCommandTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.eval.JudgeServer;
import io.github.align4j.eval.JudgeServer.Action;
import io.github.align4j.eval.MtBench;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code align4j mt-bench}: a tiny random model answers, a scripted judge on the loopback address grades. */
class MtBenchCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    static Path model;
    static Path base;

    @BeforeAll
    static void makeModels() {
        model = dir.resolve("tuned");
        base = dir.resolve("sft");
        for (Object[] m : new Object[][] {{model, "1"}, {base, "2"}}) {
            Cli.Result r = Cli.run("init", "--model-type", "llama", "--out", m[0].toString(), "--seed", (String) m[1]);
            assertEquals(0, r.exit(), r.toString());
        }
    }

    static String[] args(JudgeServer s, Path out, String... more) {
        List<String> a = new java.util.ArrayList<>(List.of("mt-bench", "--model", model.toString(), "--judge-url", s.url(),
                "--judge-model", "judge-x", "--questions", "2", "--max-new-tokens", "3", "--device", "cpu", "--output",
                out.toString(), "--judge-retries", "0"));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    @Test
    void aTinyModelAnswersAndTheJudgeGrades() throws Exception {
        Path out = dir.resolve("single");
        // the key comes from an environment variable; PATH is one every test run has
        String key = System.getenv("PATH");
        try (JudgeServer s = new JudgeServer(r -> Action.reply(r.user().contains("### User:") ? "[[4]]" : "Rating: [[7]]"))) {
            Cli.Result r = Cli.run(args(s, out, "--judge-api-key-env", "PATH"));
            assertEquals(0, r.exit(), r.toString());
            assertEquals(4, s.requests(), "2 questions x 2 turns");
            assertEquals("Bearer " + key, s.authorizations().get(0));
            assertTrue(r.out().contains("**Score: 5.500** (turn 1: 7.000, turn 2: 4.000)"), r.out());
            assertTrue(r.err().contains("4 judge calls (0 from the cache"), r.err());
            assertTrue(r.err().contains("40 prompt + 20 completion tokens"), r.err());
            // FastChat's model_answer layout, both turns
            List<String> rows = Files.readAllLines(out.resolve("model_answer/tuned.jsonl"));
            assertEquals(2, rows.size());
            JsonNode a = JSON.readTree(rows.get(0));
            assertEquals(81, a.get("question_id").asInt());
            assertEquals("tuned", a.get("model_id").asText());
            assertEquals(2, a.get("choices").get(0).get("turns").size());
            assertTrue(a.has("answer_id") && a.has("tstamp"));
            assertFalse(r.out().contains(key) || r.err().contains(key));
            try (Stream<Path> files = Files.walk(out)) {
                for (Path f : files.filter(Files::isRegularFile).toList()) {
                    assertFalse(new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1).contains(key), f.toString());
                }
            }

            // a killed run: the second answer torn mid-line. The rerun answers that question again,
            // identically (seeded), so every judgment comes from the cache.
            String first = rows.get(0) + "\n" + rows.get(1).substring(0, 20);
            Files.writeString(out.resolve("model_answer/tuned.jsonl"), first);
            Cli.Result again = Cli.run(args(s, out, "--judge-api-key-env", "PATH", "--json"));
            assertEquals(0, again.exit(), again.toString());
            assertEquals(4, s.requests(), "nothing asked twice");
            assertEquals(rows.stream().map(MtBenchCommandTest::noTime).toList(),
                    Files.readAllLines(out.resolve("model_answer/tuned.jsonl")).stream().map(MtBenchCommandTest::noTime).toList());
            assertTrue(again.err().contains("reusing 1 answer(s)"), again.err());
            assertEquals(5.5, JSON.readTree(again.out()).get("score").asDouble());
        }
    }

    static String noTime(String row) {
        return row.replaceAll("\"tstamp\":[0-9.E]+", "");
    }

    @Test
    void pairwiseAgainstABaselineFolder() throws Exception {
        Path out = dir.resolve("pair");
        try (JudgeServer s = new JudgeServer(r -> Action.reply("[[C]]"))) {
            Cli.Result r = Cli.run(args(s, out, "--mode", "pairwise", "--baseline", base.toString(), "--question-ids", "81"));
            assertEquals(0, r.exit(), r.toString());
            assertEquals(4, s.requests(), "1 question x 2 turns x 2 orders");
            assertTrue(Files.isRegularFile(out.resolve("model_answer/sft.jsonl")));
            assertTrue(r.out().contains("| **all** | 0 | 0 | 2 | 0 | 0.000 | 0.000 | 0.500 |"), r.out());
        }
    }

    @Test
    void userErrorsExitWith2() throws Exception {
        try (JudgeServer s = new JudgeServer(r -> Action.status(401, "{\"error\":\"bad key\"}"))) {
            assertUserError(Cli.run(args(s, dir.resolve("e1"), "--adapter", dir.resolve("no-such").toString())), "--adapter",
                    "no-such");
            assertUserError(Cli.run(args(s, dir.resolve("e2"), "--judge-api-key-env", "ALIGN4J_SURELY_UNSET_VAR")),
                    "ALIGN4J_SURELY_UNSET_VAR", "not set");
            assertUserError(Cli.run(args(s, dir.resolve("e3"), "--mode", "pairwise")), "--baseline");
            Cli.Result r = Cli.run(args(s, dir.resolve("e4"), "--question-ids", "81"));
            assertEquals(CliSupport.EXIT_USER, r.exit(), r.toString());
            assertTrue(r.err().contains("error: " + s.url() + "/chat/completions (model 'judge-x') refused the request (HTTP 401)"),
                    r.err());
            assertFalse(r.err().contains("\tat "), r.err());
        }
    }

    /** A LoRA adapter on {@code base} (all-linear, r 4, B random so that it changes the answers) saved in {@code out}. */
    static Path adapter(Path base, Path out, long seed) {
        try (CausalLM lm = CausalLM.load(base, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32))) {
            lm.addAdapters(new LoraConfig(4, 8, 0, List.of(LoraConfig.ALL_LINEAR), false), seed);
            Random rnd = new Random(seed + 1);
            for (Map.Entry<String, NDArray> e : lm.trainableParameters().entrySet()) {
                if (e.getKey().endsWith("lora_B.weight")) {
                    float[] v = new float[Math.toIntExact(e.getValue().size())];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) (0.5 * rnd.nextGaussian());
                    }
                    e.getValue().set(v);
                }
            }
            lm.saveAdapter(out);
        }
        return out;
    }

    static List<String> rows(Path file) throws Exception {
        return Files.readAllLines(file).stream().map(MtBenchCommandTest::noTime).toList();
    }

    /**
     * --answers-only (no judge at all) writes the file mt-bench's answer phase writes, as does the library's
     * MtBench.writeAnswers; with --adapter the answers change and the file is named after the adapter's cell;
     * a torn last line is answered again, identically.
     */
    @Test
    void answersOnlyWritesTheAnswerPhasesFileWithOrWithoutAnAdapter() throws Exception {
        Path judged = dir.resolve("ao-judged");
        try (JudgeServer s = new JudgeServer(r -> Action.reply("Rating: [[7]]"))) {
            Cli.Result r = Cli.run(args(s, judged, "--question-ids", "81,111,91"));
            assertEquals(0, r.exit(), r.toString());
        }
        List<String> expected = rows(judged.resolve("model_answer/tuned.jsonl"));
        assertEquals(3, expected.size());
        String[] common = {"--questions", "2", "--max-new-tokens", "3", "--device", "cpu", "--question-ids", "81,111,91"};
        Path only = dir.resolve("ao-only");
        List<String> a = new java.util.ArrayList<>(List.of("mt-bench", "--answers-only", "--model", model.toString(),
                "--output", only.toString()));
        a.addAll(List.of(common));
        Cli.Result r = Cli.run(a.toArray(String[]::new));
        assertEquals(0, r.exit(), r.toString());
        Path file = only.resolve("model_answer/tuned.jsonl");
        assertEquals("answers: " + file.toAbsolutePath(), r.out().strip());
        assertEquals(expected, rows(file));
        assertEquals(List.of("model_answer"), Files.list(only).map(p -> p.getFileName().toString()).toList(),
                "no judgments, no results");

        // the library's public answer phase writes the same file
        Path lib = dir.resolve("ao-lib");
        MtBench.Options o = MtBench.Options.forModel(model).output(lib).maxNewTokens(3).questionIds(List.of(81, 111, 91))
                .device(Device.cpu());
        assertEquals(lib.resolve("model_answer/tuned.jsonl"), MtBench.answersFile(o));
        assertEquals(MtBench.answersFile(o), MtBench.writeAnswers(o, null));
        assertEquals(expected, rows(MtBench.answersFile(o)));

        // a killed run's torn file: the torn question is answered again, the same
        List<String> raw = Files.readAllLines(file);
        Files.writeString(file, raw.get(0) + "\n" + raw.get(1).substring(0, 25));
        r = Cli.run(a.toArray(String[]::new));
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.err().contains("reusing 1 answer(s)"), r.err());
        assertEquals(expected, rows(file));

        // with an adapter: named after the cell of .../dpo-beta0.1/final, other answers, the same as the library's
        Path adapter = adapter(model, dir.resolve("scan/cells/dpo-beta0.1/final"), 3);
        List<String> b = new java.util.ArrayList<>(a);
        b.addAll(List.of("--adapter", adapter.toString()));
        r = Cli.run(b.toArray(String[]::new));
        assertEquals(0, r.exit(), r.toString());
        List<String> adapted = rows(only.resolve("model_answer/dpo-beta0.1.jsonl"));
        assertEquals(3, adapted.size());
        assertTrue(adapted.get(0).contains("\"model_id\":\"dpo-beta0.1\""), adapted.get(0));
        assertFalse(adapted.stream().map(l -> l.replaceAll("\"(model_id|answer_id)\":\"[^\"]*\"", ""))
                .toList().equals(expected.stream().map(l -> l.replaceAll("\"(model_id|answer_id)\":\"[^\"]*\"", "")).toList()),
                "the adapter changes the answers");
        MtBench.Options oa = MtBench.Options.forModel(model).adapter(adapter).output(dir.resolve("ao-lib-adapter"))
                .maxNewTokens(3).questionIds(List.of(81, 111, 91)).device(Device.cpu());
        assertEquals(adapted, rows(MtBench.writeAnswers(oa, null)));

        // mt-bench with the adapter judges those answers
        try (JudgeServer s = new JudgeServer(x -> Action.reply("Rating: [[7]]"))) {
            Path full = dir.resolve("ao-adapter-judged");
            r = Cli.run(args(s, full, "--question-ids", "81,111,91", "--adapter", adapter.toString()));
            assertEquals(0, r.exit(), r.toString());
            assertEquals(adapted, rows(full.resolve("model_answer/dpo-beta0.1.jsonl")));
        }

        // refusals: no judge without --answers-only; --answers-only with a baseline or with --answers
        r = Cli.run("mt-bench", "--model", model.toString(), "--output", dir.resolve("ao-e1").toString());
        assertUserError(r, "--judge-url", "--answers-only");
        assertUserError(Cli.run("mt-bench", "--answers-only", "--model", model.toString(), "--output",
                dir.resolve("ao-e2").toString(), "--mode", "pairwise", "--baseline", base.toString()), "baseline as --model");
        assertUserError(Cli.run("mt-bench", "--answers-only", "--answers", file.toString(), "--output",
                dir.resolve("ao-e3").toString()), "give --model DIR");
        assertFalse(Files.exists(dir.resolve("ao-e1")) || Files.exists(dir.resolve("ao-e2")) || Files.exists(dir.resolve("ao-e3")));
    }

    /** The judge's rating of an answer: from its length; some lengths get no rating (-1). */
    static double rate(String answer) {
        return answer.length() % 7 == 0 ? -1 : answer.length() % 10 + 1;
    }

    @Test
    void evalWithAnOpenAiJudgeEqualsTheEvaluatorWithTheSameRatings() throws Exception {
        String start = "[The Start of Assistant's Answer]\n";
        String end = "\n[The End of Assistant's Answer]";
        Path pairs = dir.resolve("pairs.jsonl");
        Files.writeString(pairs, String.join("\n", LogprobsCommand.EXAMPLE_ROWS) + "\n");
        Path cache = dir.resolve("eval-judge-cache.jsonl");
        try (JudgeServer s = new JudgeServer(r -> {
            String u = r.user();
            String answer = u.substring(u.indexOf(start) + start.length(), u.lastIndexOf(end));
            double v = rate(answer);
            return Action.reply(v < 0 ? "I cannot rate this." : "Rating: [[" + (int) v + "]]");
        })) {
            String[] a = {"eval", "--model", model.toString(), "--ref-model", base.toString(), "--data", pairs.toString(),
                "--judge", "openai:judge-x@" + s.url(), "--judge-cache", cache.toString(), "--max-new-tokens", "6",
                "--temperature", "1.0", "--num-samples", "2", "--seed", "3", "--device", "cpu", "--json", "--cache-dir",
                dir.resolve("datacache").toString()};
            Cli.Result r = Cli.run(a);
            assertEquals(0, r.exit(), r.toString());
            assertEquals(12, s.requests(), "3 prompts x 2 samples x (model, reference)");
            JsonNode n = JSON.readTree(r.out());
            java.util.concurrent.atomic.AtomicInteger unscored = new java.util.concurrent.atomic.AtomicInteger();
            io.github.align4j.eval.JudgeEval e;
            ai.djl.Device cpu = ai.djl.Device.cpu();
            io.github.align4j.model.CausalLM.Options o = new io.github.align4j.model.CausalLM.Options(cpu, false,
                    ai.djl.ndarray.types.DataType.FLOAT32);
            try (io.github.align4j.model.TextTokenizer tok = io.github.align4j.model.TextTokenizer.load(model, null);
                    io.github.align4j.model.CausalLM lm = io.github.align4j.model.CausalLM.load(model, o);
                    io.github.align4j.model.CausalLM rm = io.github.align4j.model.CausalLM.load(base, o)) {
                List<String> prompts = PromptRows.load(pairs, "--data", tok,
                        io.github.align4j.data.DataOptions.defaults().withCacheDir(dir.resolve("datacache2"))).texts();
                e = io.github.align4j.eval.Evaluator.judge(lm, rm, tok, prompts, (p, c) -> {
                    double v = rate(c);
                    if (v < 0) {
                        unscored.incrementAndGet();
                    }
                    return v;
                }, new io.github.align4j.eval.SamplingOptions(6, 1.0, 1.0, 0, 3, 2), true);
            }
            assertEquals(e.winRate(), n.get("win_rate").asDouble());
            assertEquals(e.meanReward(), n.get("mean_reward").asDouble(), 1e-12);
            assertEquals(e.referenceMeanReward(), n.get("reference_mean_reward").asDouble(), 1e-12);
            assertEquals(unscored.get(), n.get("judge_unscored").asInt());
            assertEquals(12, n.get("judge_calls").asInt());
            // a rerun pays only for the judgments without a rating (never cached): every other one is in the cache
            int unrated = n.get("judge_unscored").asInt();
            assertTrue(unrated > 0 && unrated < 12, "the script leaves some unrated: " + unrated);
            Cli.Result again = Cli.run(a);
            assertEquals(0, again.exit(), again.toString());
            assertEquals(12 + unrated, s.requests());
            assertEquals(12 - unrated, JSON.readTree(again.out()).get("judge_cached").asInt());
            assertEquals(unrated, JSON.readTree(again.out()).get("judge_unscored").asInt());
        }
        assertUserError(Cli.run("eval", "--model", model.toString(), "--ref-model", base.toString(), "--data",
                pairs.toString(), "--judge", "openai:no-url"), "expected openai:MODEL@URL");
    }

    /** A FastChat answers file for question 81 (judging it needs no model). */
    static Path answersFile() throws Exception {
        Path f = dir.resolve("answers-81.jsonl");
        Files.writeString(f, "{\"question_id\": 81, \"model_id\": \"m\", \"choices\": [{\"turns\": [\"one\", \"two\"]}]}\n");
        return f;
    }

    static String[] answersArgs(String url, Path out, String... more) throws Exception {
        List<String> a = new java.util.ArrayList<>(List.of("mt-bench", "--answers", answersFile().toString(), "--judge-url", url,
                "--judge-model", "judge-x", "--question-ids", "81", "--output", out.toString(), "--judge-retries", "0"));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    @Test
    void aKeyOverPlainHttpToAnotherHostIsRefusedUnlessAllowedAndThenWarned() throws Exception {
        try (JudgeServer s = new JudgeServer(r -> Action.reply("Rating: [[6]]"))) {
            int port = Integer.parseInt(s.url().replaceAll(".*:(\\d+)/v1$", "$1"));
            // 0.0.0.0 and a name that starts with 127. are not this machine: refused before anything is sent
            for (String host : new String[] {"0.0.0.0", "127.attacker.invalid"}) {
                String url = "http://" + host + ":" + port + "/v1";
                assertUserError(Cli.run(answersArgs(url, dir.resolve("h-" + host), "--judge-api-key-env", "PATH")),
                        "unencrypted", host, "--judge-allow-http");
                assertUserError(Cli.run("eval", "--model", model.toString(), "--ref-model", base.toString(), "--data",
                        answersFile().toString(), "--judge", "openai:j@" + url, "--judge-api-key-env", "PATH"),
                        "unencrypted", host, "--judge-allow-http");
            }
            assertEquals(0, s.requests());
            // allowed explicitly: sent (0.0.0.0 reaches this machine's server on Linux), with a warning
            Path out = dir.resolve("h-allowed");
            Cli.Result r = Cli.run(answersArgs("http://0.0.0.0:" + port + "/v1", out, "--judge-api-key-env", "PATH",
                    "--judge-allow-http"));
            assertEquals(0, r.exit(), r.toString());
            assertTrue(r.err().contains("warning: the API key in $PATH is sent unencrypted (http://) to 0.0.0.0"), r.err());
            assertEquals(2, s.requests());
            // on this machine: no flag, no warning
            r = Cli.run(answersArgs(s.url(), dir.resolve("h-local"), "--judge-api-key-env", "PATH"));
            assertEquals(0, r.exit(), r.toString());
            assertFalse(r.err().contains("unencrypted"), r.err());
        }
    }

    @Test
    void evalWarnsWhenItsKeyGoesOverPlainHttp() throws Exception {
        Path pairs = dir.resolve("warn-pairs.jsonl");
        Files.writeString(pairs, LogprobsCommand.EXAMPLE_ROWS.get(0) + "\n");
        try (JudgeServer s = new JudgeServer(r -> Action.reply("Rating: [[6]]"))) {
            int port = Integer.parseInt(s.url().replaceAll(".*:(\\d+)/v1$", "$1"));
            Cli.Result r = Cli.run("eval", "--model", model.toString(), "--ref-model", base.toString(), "--data",
                    pairs.toString(), "--judge", "openai:judge-x@http://0.0.0.0:" + port + "/v1", "--judge-api-key-env", "PATH",
                    "--judge-allow-http", "--judge-cache", dir.resolve("warn-cache.jsonl").toString(), "--max-new-tokens", "2",
                    "--num-samples", "1", "--device", "cpu", "--json", "--cache-dir", dir.resolve("warn-datacache").toString());
            assertEquals(0, r.exit(), r.toString());
            assertTrue(r.err().contains("warning: the API key in $PATH is sent unencrypted (http://) to 0.0.0.0"), r.err());
            assertTrue(s.requests() >= 1 && s.requests() <= 2, "the model's and the reference's sample (one when they are alike)");
        }
    }

    @Test
    void aJudgesErrorBodyReachesTheTerminalEscapedAndWithoutTheKey() throws Exception {
        String key = System.getenv("PATH");
        // the key starts just before the old 300-character cut, after terminal escape sequences
        String body = "\u001b]0;pwned\u0007\u001b[2J" + "x".repeat(270) + " Bearer " + key;
        try (JudgeServer s = new JudgeServer(r -> Action.status(401, body))) {
            Cli.Result r = Cli.run(answersArgs(s.url(), dir.resolve("esc"), "--judge-api-key-env", "PATH"));
            assertEquals(CliSupport.EXIT_USER, r.exit(), r.toString());
            assertTrue(r.err().contains("Server said: \\u001b]0;pwned\\u0007\\u001b[2Jxxx"), r.err());
            assertFalse(r.err().chars().anyMatch(c -> c == 0x1b || c == 0x07), r.err());
            assertFalse(r.err().contains(key.substring(0, Math.min(key.length(), 8))), r.err());
            assertTrue(r.err().contains("Bearer ***"), r.err());
        }
    }
}
