package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.eval.JudgeServer.Action;
import io.github.align4j.eval.MtBenchData.Question;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** MT-Bench judging against a scripted judge on the loopback address, with FastChat answer files. */
class MtBenchTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String KEY = "sk-mtbench-SECRET-42";
    static final List<Integer> IDS = List.of(81, 101, 111); // writing, reasoning, math

    @TempDir
    Path dir;

    /** A FastChat model_answer file, as gen_model_answer.py writes it (extra fields included). */
    Path answers(String model, String prefix) throws Exception {
        Path f = dir.resolve(model + ".jsonl");
        StringBuilder sb = new StringBuilder();
        for (int id : IDS) {
            sb.append("{\"question_id\": ").append(id).append(", \"answer_id\": \"TFomieEmmAgdeCkvmuvwbc\", \"model_id\": \"")
                    .append(model).append("\", \"choices\": [{\"index\": 0, \"turns\": [\"").append(prefix).append('-')
                    .append(id).append("-1\", \"").append(prefix).append('-').append(id)
                    .append("-2 {question} braces stay\"]}], \"tstamp\": 1687221288.5}\n");
        }
        Files.writeString(f, sb.toString());
        return f;
    }

    ChatClient.Options judge(JudgeServer s) {
        return ChatClient.Options.of(s.url(), "judge-x").withApiKey("TEST_KEY", KEY)
                .withRetries(0, Duration.ZERO, Duration.ZERO).withConcurrency(3);
    }

    /** Ratings by (question, turn); 101 turn 1 uses the [x] fallback and 101 turn 2 has no rating. */
    static Action singleJudge(JudgeServer.Request r) {
        String u = r.user();
        for (int id : IDS) {
            if (u.contains("ans-" + id + "-2")) {
                return Action.reply(switch (id) {
                    case 81 -> "Good follow-up. Rating: [[6]]";
                    case 101 -> "I cannot decide."; // no score: -1
                    default -> "Rating: [[5.5]]";
                });
            }
        }
        for (int id : IDS) {
            if (u.contains("ans-" + id + "-1")) {
                return Action.reply(switch (id) {
                    case 81 -> "Rating: [[8]] and later [[2]]"; // the first [[x]] counts
                    case 101 -> "Rating: [7]";
                    default -> "[[3]]";
                });
            }
        }
        return Action.status(400, "unexpected prompt");
    }

    @Test
    void singleModeScoresEqualHandComputedOnesAndRerunsAskNothing() throws Exception {
        Path out = dir.resolve("out");
        try (JudgeServer s = new JudgeServer(MtBenchTest::singleJudge)) {
            List<String> log = new ArrayList<>();
            MtBench.Result r = MtBench.run(MtBench.Options.forAnswers(answers("m1", "ans")).questionIds(IDS)
                    .judge(judge(s)).output(out), log::add);
            assertEquals(6, s.requests());
            MtBench.Scores all = r.scores();
            assertEquals((8 + 7 + 3) / 3.0, all.turn1(), 1e-12);
            assertEquals((6 + 5.5) / 2, all.turn2(), 1e-12);
            assertEquals((8 + 6 + 7 + 3 + 5.5) / 5, all.mean(), 1e-12);
            assertEquals(all.mean(), r.score());
            assertEquals(5, all.judged());
            assertEquals(1, all.unscored());
            assertEquals(List.of("writing", "reasoning", "math"), new ArrayList<>(r.categoryScores().keySet()));
            assertEquals(new MtBench.Scores(8, 6, 7, 2, 0), r.categoryScores().get("writing"));
            MtBench.Scores reasoning = r.categoryScores().get("reasoning");
            assertEquals(7, reasoning.mean());
            assertTrue(Double.isNaN(reasoning.turn2()));
            assertEquals(1, reasoning.unscored());
            assertEquals(new MtBench.Scores(3, 5.5, 4.25, 2, 0), r.categoryScores().get("math"));
            assertEquals(6, r.usage().answered());
            assertEquals(60, r.usage().promptTokens());

            // the prompts: FastChat's, with the reference answer where the category needs one
            Map<String, MtBenchData.JudgePrompt> prompts = MtBenchData.judgePrompts();
            Map<Integer, List<String>> refs = MtBenchData.references();
            List<JsonNode> bodies = s.bodies();
            JsonNode math2 = bodies.stream().filter(b -> b.toString().contains("ans-111-2")).findFirst().orElseThrow();
            assertEquals(prompts.get("single-math-v1-multi-turn").system(), math2.get("messages").get(0).get("content").asText());
            String u = math2.get("messages").get(1).get("content").asText();
            assertTrue(u.contains(refs.get(111).get(0)) && u.contains(refs.get(111).get(1)), u);
            assertTrue(u.contains("ans-111-2 {question} braces stay"), "answer text is not formatted again: " + u);
            JsonNode writing1 = bodies.stream().filter(b -> b.toString().contains("ans-81-1")
                    && !b.toString().contains("ans-81-2")).findFirst().orElseThrow();
            assertEquals("You are a helpful assistant.", writing1.get("messages").get(0).get("content").asText());

            // FastChat's judgment layout, the unscored judgment kept with score -1
            List<String> rows = Files.readAllLines(out.resolve("model_judgment/judge-x_single.jsonl"));
            assertEquals(6, rows.size());
            JsonNode miss = rows.stream().map(MtBenchTest::tree).filter(n -> n.get("question_id").asInt() == 101
                    && n.get("turn").asInt() == 2).findFirst().orElseThrow();
            assertEquals(-1, miss.get("score").asDouble());
            assertEquals("m1", miss.get("model").asText());
            assertEquals("judge-x", miss.get("judge").get(0).asText());
            assertEquals("single-math-v1-multi-turn", miss.get("judge").get(1).asText());
            assertEquals("I cannot decide.", miss.get("judgment").asText());
            assertTrue(miss.has("user_prompt") && miss.has("tstamp"));

            assertEquals("category,turn1,turn2,mean,judged,unscored\nwriting,8,6,7,2,0\nreasoning,7,,7,1,1\n"
                    + "math,3,5.5,4.25,2,0\nall,6,5.75,5.9,5,1\n", Files.readString(out.resolve("results.csv")));
            String md = Files.readString(out.resolve("results.md"));
            assertTrue(md.contains("| math | 3.000 | 5.500 | 4.250 | 2 | 0 |"), md);
            assertTrue(md.contains("1 judgment(s) had no [[rating]]"), md);
            JsonNode res = tree(Files.readString(out.resolve("results.json")));
            assertEquals(5.9, res.get("score").asDouble(), 1e-12);
            assertEquals(1, res.get("unscored").asInt());
            assertTrue(Files.size(out.resolve("scores_by_category.png")) > 1000);
            assertTrue(Files.isRegularFile(out.resolve("scores_by_category.svg")));

            // a rerun asks the judge only the judgment without a rating (never cached) and gives the same scores
            MtBench.Result again = MtBench.run(MtBench.Options.forAnswers(answers("m1", "ans")).questionIds(IDS)
                    .judge(judge(s)).output(out), null);
            assertEquals(7, s.requests());
            assertEquals(5, again.usage().cached());
            assertEquals(1, again.usage().answered());
            assertEquals(r.scores(), again.scores());
            assertNoKey(out, log);
        }
    }

    /** Verdicts per (question, turn) with the model shown as A or as B. */
    static Action pairJudge(JudgeServer.Request r) {
        String u = r.user();
        boolean modelIsA = u.indexOf("ans-") < u.indexOf("base-");
        int turn = u.contains("ans-81-2") || u.contains("ans-101-2") || u.contains("ans-111-2") ? 2 : 1;
        int id = u.contains("ans-81-") ? 81 : u.contains("ans-101-") ? 101 : 111;
        String model = modelIsA ? "[[A]]" : "[[B]]";
        String base = modelIsA ? "[[B]]" : "[[A]]";
        String v = switch (id * 10 + turn) {
            case 811 -> model; // win
            case 812 -> base; // loss
            case 1011 -> "[[A]]"; // position bias: the orders disagree, a tie
            case 1012 -> "[[C]]"; // tie
            case 1111 -> modelIsA ? "no verdict" : model; // an error in one order
            default -> model; // 111 turn 2: win
        };
        return Action.reply("Explanation... " + v);
    }

    @Test
    void pairwiseModeCountsBothOrdersAsFastChatDoes() throws Exception {
        Path out = dir.resolve("pair");
        try (JudgeServer s = new JudgeServer(MtBenchTest::pairJudge)) {
            MtBench.Result r = MtBench.run(MtBench.Options.forAnswers(answers("m1", "ans")).questionIds(IDS)
                    .mode(MtBench.Mode.PAIRWISE).baseline(answers("sft", "base")).judge(judge(s)).output(out), null);
            assertEquals(12, s.requests(), "3 questions x 2 turns x 2 orders");
            assertEquals(new MtBench.Wins(2, 1, 2, 1), r.wins());
            assertEquals(0.4, r.wins().winRate(), 1e-12);
            assertEquals(0.2, r.wins().lossRate(), 1e-12);
            assertEquals(0.6, r.wins().adjustedWinRate(), 1e-12);
            assertEquals(0.6, r.score(), 1e-12);
            assertEquals(new MtBench.Wins(1, 0, 1, 1), r.turn1Wins());
            assertEquals(new MtBench.Wins(1, 1, 1, 0), r.turn2Wins());
            assertEquals(new MtBench.Wins(1, 1, 0, 0), r.categoryWins().get("writing"));
            assertEquals(new MtBench.Wins(0, 0, 2, 0), r.categoryWins().get("reasoning"));
            assertEquals(new MtBench.Wins(1, 0, 0, 1), r.categoryWins().get("math"));
            assertEquals("sft", r.baselineId());
            List<JsonNode> rows = Files.readAllLines(out.resolve("model_judgment/judge-x_pair.jsonl")).stream()
                    .map(MtBenchTest::tree).toList();
            assertEquals(6, rows.size());
            JsonNode bias = rows.stream().filter(n -> n.get("question_id").asInt() == 101 && n.get("turn").asInt() == 1)
                    .findFirst().orElseThrow();
            assertEquals("model_1", bias.get("g1_winner").asText());
            assertEquals("model_2", bias.get("g2_winner").asText());
            assertEquals("m1", bias.get("model_1").asText());
            assertEquals("sft", bias.get("model_2").asText());
            assertEquals("pair-math-v1", bias.get("judge").get(1).asText());
            JsonNode err = rows.stream().filter(n -> n.get("question_id").asInt() == 111 && n.get("turn").asInt() == 1)
                    .findFirst().orElseThrow();
            assertEquals("error", err.get("g1_winner").asText());
            String csv = Files.readString(out.resolve("results.csv"));
            assertTrue(csv.contains("\nall,2,1,2,1,0.4,0.2,0.6\n"), csv);
            assertTrue(csv.contains("\nturn1,1,0,1,1,0.5,0,0.75\n"), csv);
            assertNoKey(out, List.of());
        }
    }

    @Test
    void aRunThatDiesMidwayResumesWithoutAskingAgain() throws Exception {
        Path out = dir.resolve("resume");
        try (JudgeServer s = new JudgeServer(r -> r.index() < 4 ? singleJudge(r) : Action.status(503, "overloaded"))) {
            MtBench.Options o = MtBench.Options.forAnswers(answers("m1", "ans")).questionIds(IDS)
                    .judge(judge(s).withConcurrency(1)).output(out);
            Align4jException e = assertThrows(Align4jException.class, () -> MtBench.run(o, null));
            assertTrue(e.getMessage().contains("HTTP 503"), e.getMessage());
            assertEquals(5, s.requests());
            assertFalse(Files.exists(out.resolve("results.json")));
            s.script(MtBenchTest::singleJudge);
            MtBench.Result r = MtBench.run(o, null);
            assertEquals(8, s.requests(), "only the 2 prompts never answered and the 1 unrated are asked again");
            assertEquals(3, r.usage().cached());
            assertEquals(5.9, r.scores().mean(), 1e-12);
        }
    }

    @Test
    void badAnswerFilesAreClearErrors() throws Exception {
        try (JudgeServer s = new JudgeServer(MtBenchTest::singleJudge)) {
            Path f = dir.resolve("bad.jsonl");
            Files.writeString(f, "{\"question_id\": 81, \"model_id\": \"x\", \"choices\": [{\"turns\": [\"a\", \"b\"]}]}\nnot json\n");
            Align4jException e = assertThrows(Align4jException.class, () -> MtBench.run(MtBench.Options.forAnswers(f)
                    .questionIds(List.of(81)).judge(judge(s)).output(dir.resolve("o1")), null));
            assertTrue(e.getMessage().contains("bad.jsonl line 2"), e.getMessage());
            Files.writeString(f, "{\"question_id\": 81, \"model_id\": \"x\", \"choices\": [{\"turns\": [\"a\", \"b\"]}]}\n");
            e = assertThrows(Align4jException.class, () -> MtBench.run(MtBench.Options.forAnswers(f)
                    .questionIds(List.of(81, 82)).judge(judge(s)).output(dir.resolve("o2")), null));
            assertTrue(e.getMessage().contains("no answer for question(s) [82]"), e.getMessage());
            e = assertThrows(Align4jException.class, () -> MtBench.run(MtBench.Options.forAnswers(f)
                    .questionIds(List.of(7)).judge(judge(s)).output(dir.resolve("o3")), null));
            assertTrue(e.getMessage().contains("no question 7"), e.getMessage());
            assertEquals(0, s.requests());
        }
    }

    @Test
    void ratingsAndVerdictsAreReadAsFastChatReadsThem() {
        assertEquals(7, MtBenchJudging.rating("Rating: [[7]]"));
        assertEquals(8.5, MtBenchJudging.rating("[[8.5]] then [[2]]"));
        assertEquals(6, MtBenchJudging.rating("Rating: [6]"));
        assertEquals(4, MtBenchJudging.rating("[x] [[4]]"), "[[x]] is searched before the [x] fallback");
        assertEquals(-1, MtBenchJudging.rating("Rating: seven"));
        assertEquals(-1, MtBenchJudging.rating("[[A]]"));
        // the prompts' scale is 1 to 10: anything else is no rating
        assertEquals(10, MtBenchJudging.rating("[[10]]"));
        assertEquals(1, MtBenchJudging.rating("[[1.0]]"));
        assertEquals(-1, MtBenchJudging.rating("[[11]]"));
        assertEquals(-1, MtBenchJudging.rating("[[0]]"));
        assertEquals(-1, MtBenchJudging.rating("[[10.5]]"));
        assertEquals(-1, MtBenchJudging.rating("[[9999999999]]"));
        assertEquals(-1, MtBenchJudging.rating("[[" + "9".repeat(400) + "]]"));
        assertEquals(-1, MtBenchJudging.rating("Rating: [11]"));
        assertFalse(MtBenchJudging.rated("[[11]]"));
        assertTrue(MtBenchJudging.rated("[[3]]"));
        assertTrue(MtBenchJudging.decided("[[C]]"));
        assertFalse(MtBenchJudging.decided("no verdict"));
        assertEquals("A", MtBenchJudging.verdict("[[B]] no, [[A]]"), "[[A]] is checked first, as FastChat does");
        assertEquals("tie", MtBenchJudging.verdict("[[C]]"));
        assertEquals("error", MtBenchJudging.verdict("A"));
        assertEquals("win", MtBenchJudging.outcome("A", "B"));
        assertEquals("loss", MtBenchJudging.outcome("B", "A"));
        assertEquals("tie", MtBenchJudging.outcome("A", "A"));
        assertEquals("tie", MtBenchJudging.outcome("tie", "tie"));
        assertEquals("error", MtBenchJudging.outcome("A", "error"));
    }

    @Test
    void ratingsOffTheScaleAreUnscoredAndNeverInfinity() throws Exception {
        Path out = dir.resolve("huge");
        String[] replies = {"[[11]]", "[[9999999999]]", "[[" + "9".repeat(400) + "]]", "[[0]]", "Rating: [[4]]", "[[10]]"};
        try (JudgeServer s = new JudgeServer(r -> Action.reply(replies[Math.min(r.index(), replies.length - 1)]))) {
            MtBench.Result r = MtBench.run(MtBench.Options.forAnswers(answers("m1", "ans")).questionIds(IDS)
                    .judge(judge(s).withConcurrency(1)).output(out), null);
            assertEquals(4, r.scores().unscored());
            assertEquals(2, r.scores().judged());
            assertEquals(7, r.scores().mean(), 1e-12);
            String res = Files.readString(out.resolve("results.json"));
            assertFalse(res.contains("Infinity"), res);
            List<Double> scores = Files.readAllLines(out.resolve("model_judgment/judge-x_single.jsonl")).stream()
                    .map(l -> tree(l).get("score").asDouble()).toList();
            assertEquals(List.of(-1.0, -1.0, -1.0, -1.0, 4.0, 10.0), scores);
            assertEquals(2, JudgeCache.open(out.resolve("judge_cache.jsonl")).size(), "only rated replies are cached");
        }
    }

    @Test
    void aJudgeThatEchoesTheKeyLeavesItInNoFile() throws Exception {
        String key = ChatClientTest.CANARY;
        Path out = dir.resolve("echo");
        for (MtBench.Mode mode : MtBench.Mode.values()) {
            try (JudgeServer s = new JudgeServer(r -> Action.reply("Authorization: Bearer " + key + ", prefix "
                    + key.substring(0, 10) + " [[A]] Rating: [[5]]"))) {
                List<String> log = new ArrayList<>();
                MtBench.Options o = MtBench.Options.forAnswers(answers("m1", "ans")).questionIds(List.of(81)).mode(mode)
                        .judge(judge(s).withApiKey("CANARY_KEY", key)).output(out);
                if (mode == MtBench.Mode.PAIRWISE) {
                    o.baseline(answers("sft", "base"));
                }
                MtBench.run(o, log::add);
                assertEquals("Bearer " + key, s.authorizations().get(0));
                try (Stream<Path> files = Files.walk(out)) {
                    for (Path f : files.filter(Files::isRegularFile).toList()) {
                        ChatClientTest.assertNoCanary(f.toString(), new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1));
                    }
                }
                log.forEach(l -> ChatClientTest.assertNoCanary("log", l));
                String judgments = Files.readString(out.resolve("model_judgment/judge-x_"
                        + (mode == MtBench.Mode.SINGLE ? "single" : "pair") + ".jsonl"));
                assertTrue(judgments.contains("Bearer ***, prefix ***"), judgments);
            }
        }
    }

    @Test
    void aQuestionIdThatIsNotAWholeNumberIsRefused() throws Exception {
        Path f = dir.resolve("frac.jsonl");
        Files.writeString(f, "{\"question_id\": 82, \"model_id\": \"x\", \"choices\": [{\"turns\": [\"a\", \"b\"]}]}\n"
                + "{\"question_id\": 81.9, \"model_id\": \"x\", \"choices\": [{\"turns\": [\"a\", \"b\"]}]}\n");
        Align4jException e = assertThrows(Align4jException.class, () -> MtBenchData.readAnswers(f, false));
        assertTrue(e.getMessage().contains("frac.jsonl line 2: 'question_id' is missing or not an integer"), e.getMessage());
        for (String id : new String[] {"\"81\"", "81.0", "1e2", "99999999999"}) {
            Files.writeString(f, "{\"question_id\": " + id + ", \"choices\": [{\"turns\": [\"a\"]}]}\n");
            assertThrows(Align4jException.class, () -> MtBenchData.readAnswers(f, false), id);
        }
        Files.writeString(f, "{\"question_id\": 81, \"x\": sk-secret-token}\n");
        e = assertThrows(Align4jException.class, () -> MtBenchData.readAnswers(f, false));
        assertTrue(e.getMessage().contains("frac.jsonl line 1: not a JSON object"), e.getMessage());
        assertFalse(e.getMessage().contains("sk-secret"), "the file's content is not quoted: " + e.getMessage());
    }

    @Test
    void theShippedFilesAreFastChatsMtBench() {
        List<Question> qs = MtBenchData.questions();
        assertEquals(80, qs.size());
        assertTrue(qs.stream().allMatch(q -> q.turns().size() == 2));
        assertEquals(8, MtBench.categories(qs).size());
        assertEquals(30, MtBenchData.references().size());
        assertTrue(qs.stream().filter(Question::needsReference).allMatch(q -> MtBenchData.references().containsKey(q.id())));
        assertEquals(8, MtBenchData.judgePrompts().size());
        assertEquals(0.7, qs.get(0).temperature()); // writing
        assertEquals("single-math-v1-multi-turn", MtBenchJudging.singleName(qs.stream().filter(q -> q.id() == 111).findFirst()
                .orElseThrow(), 2));
        assertEquals("cell-a", MtBench.defaultId(Path.of("runs/x/cells/cell-a/final")));
        assertEquals("a_b", MtBenchData.fileName("a/b"));
    }

    static void assertNoKey(Path out, List<String> log) throws Exception {
        try (Stream<Path> files = Files.walk(out)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                String text = new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1);
                assertFalse(text.contains(KEY), f + " holds the API key");
            }
        }
        log.forEach(l -> assertFalse(l.contains(KEY), l));
    }

    static JsonNode tree(String s) {
        try {
            return JSON.readTree(s);
        } catch (Exception e) {
            throw new AssertionError(s, e);
        }
    }

    @Test
    void aLoneSurrogateInAReportNamesTheFileLineAndColumn(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("results.md");
        String text = "# MT-Bench\n\n| q | answer \ud83d\ude00 ok |\n| 1 | h\u00e9 \ud83d |\n";
        String m = assertThrows(Align4jException.class, () -> MtBenchReport.writeText(f, text)).getMessage();
        assertTrue(m.startsWith(f + ": cannot write line 4, column 10 (\\ud83d): UTF-8 cannot encode a lone surrogate"), m);
        assertFalse(Files.exists(f));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(0, s.count(), "no temporary file is left");
        }
        MtBenchReport.writeText(f, "a \ud83d\ude00 pair is fine\n");
        assertEquals("a \ud83d\ude00 pair is fine\n", Files.readString(f, StandardCharsets.UTF_8));
    }
}
