package io.github.align4j.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.eval.MtBench.Mode;
import io.github.align4j.eval.MtBench.Result;
import io.github.align4j.eval.MtBench.Scores;
import io.github.align4j.eval.MtBench.Wins;
import io.github.align4j.eval.MtBenchData.Answers;
import io.github.align4j.eval.MtBenchData.Question;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Predicate;

/** MT-Bench's judging step and its files: judgments (FastChat's layout), results.json/.md/.csv and (through {@link Plots}) the category plot. */
final class MtBenchReport {
    private static final ObjectMapper JSON = new ObjectMapper();

    private MtBenchReport() {}

    /** One single-answer judgment. */
    record Single(Question q, int turn, String promptName, String userPrompt, String judgment, double score) {}

    /** One pairwise judgment in both orders (g1: the model is A; g2: the model is B). */
    record Pair(Question q, int turn, String promptName, String g1Prompt, String g1Judgment, String g1, String g2Prompt,
            String g2Judgment, String g2) {
        String outcome() {
            return MtBenchJudging.outcome(g1, g2);
        }
    }

    static Result judgeAndWrite(MtBench.Options o, List<Question> qs, Answers a, Answers b, ChatClient client, Consumer<String> log) {
        Map<String, MtBenchData.JudgePrompt> prompts = MtBenchData.judgePrompts();
        Map<Integer, List<String>> refs = MtBenchData.references();
        String judge = client.options().model();
        List<Path> files = new ArrayList<>();
        Path jdir = o.output.resolve("model_judgment");
        try {
            Files.createDirectories(jdir);
        } catch (IOException e) {
            throw new Align4jException(jdir + ": cannot create the folder: " + e.getMessage(), e);
        }
        long t0 = System.nanoTime();
        List<String> rows = new ArrayList<>();
        Result r;
        if (o.mode == Mode.SINGLE) {
            List<MtBenchJudging.Match> ms = new ArrayList<>();
            for (Question q : qs) {
                for (int turn = 1; turn <= 2; turn++) {
                    ms.add(MtBenchJudging.single(q, turn, a.turns().get(q.id()), refs.get(q.id()), prompts));
                }
            }
            MtBench.say(log, "judging " + ms.size() + " answer turns of " + a.modelId() + " with " + judge + " at "
                    + client.options().shownEndpoint());
            List<ChatClient.Reply> replies = client.completeAll(ms.stream().map(MtBenchJudging.Match::prompt).toList(),
                    MtBenchJudging::rated);
            List<Single> js = new ArrayList<>();
            for (int i = 0; i < ms.size(); i++) {
                MtBenchJudging.Match m = ms.get(i);
                String text = replies.get(i).content();
                Single s = new Single(m.question(), m.turn(), m.promptName(), m.prompt().user(), text,
                        MtBenchJudging.rating(text));
                js.add(s);
                ObjectNode n = JSON.createObjectNode();
                n.put("question_id", s.q().id());
                n.put("model", a.modelId());
                n.putArray("judge").add(judge).add(s.promptName());
                n.put("user_prompt", s.userPrompt());
                n.put("judgment", s.judgment());
                n.put("score", s.score());
                n.put("turn", s.turn());
                n.put("tstamp", System.currentTimeMillis() / 1000.0);
                rows.add(n.toString());
            }
            files.add(writeText(jdir.resolve(MtBenchData.fileName(judge) + "_single.jsonl"), String.join("\n", rows) + "\n"));
            Map<String, Scores> cats = new LinkedHashMap<>();
            for (String c : MtBench.categories(qs)) {
                cats.put(c, scores(js, s -> s.q().category().equals(c)));
            }
            r = new Result(Mode.SINGLE, a.modelId(), null, judge, qs.size(), scores(js, s -> true), cats, null, null, null,
                    null, client.usage(), files);
        } else {
            List<MtBenchJudging.Match> ms = new ArrayList<>();
            for (Question q : qs) {
                for (int turn = 1; turn <= 2; turn++) {
                    List<String> x = a.turns().get(q.id());
                    List<String> y = b.turns().get(q.id());
                    ms.add(MtBenchJudging.pair(q, turn, x, y, refs.get(q.id()), prompts));
                    ms.add(MtBenchJudging.pair(q, turn, y, x, refs.get(q.id()), prompts));
                }
            }
            MtBench.say(log, "judging " + ms.size() / 2 + " answer turns of " + a.modelId() + " against " + b.modelId()
                    + " in both orders (" + ms.size() + " prompts) with " + judge + " at " + client.options().shownEndpoint());
            List<ChatClient.Reply> replies = client.completeAll(ms.stream().map(MtBenchJudging.Match::prompt).toList(),
                    MtBenchJudging::decided);
            List<Pair> js = new ArrayList<>();
            for (int i = 0; i < ms.size(); i += 2) {
                MtBenchJudging.Match m1 = ms.get(i);
                MtBenchJudging.Match m2 = ms.get(i + 1);
                String j1 = replies.get(i).content();
                String j2 = replies.get(i + 1).content();
                Pair p = new Pair(m1.question(), m1.turn(), m1.promptName(), m1.prompt().user(), j1,
                        MtBenchJudging.verdict(j1), m2.prompt().user(), j2, MtBenchJudging.verdict(j2));
                js.add(p);
                ObjectNode n = JSON.createObjectNode();
                n.put("question_id", p.q().id());
                n.put("model_1", a.modelId());
                n.put("model_2", b.modelId());
                n.put("g1_winner", MtBenchJudging.winnerField(p.g1(), true));
                n.put("g2_winner", MtBenchJudging.winnerField(p.g2(), false));
                n.putArray("judge").add(judge).add(p.promptName());
                n.put("g1_user_prompt", p.g1Prompt());
                n.put("g1_judgment", p.g1Judgment());
                n.put("g2_user_prompt", p.g2Prompt());
                n.put("g2_judgment", p.g2Judgment());
                n.put("turn", p.turn());
                n.put("tstamp", System.currentTimeMillis() / 1000.0);
                rows.add(n.toString());
            }
            files.add(writeText(jdir.resolve(MtBenchData.fileName(judge) + "_pair.jsonl"), String.join("\n", rows) + "\n"));
            Map<String, Wins> cats = new LinkedHashMap<>();
            for (String c : MtBench.categories(qs)) {
                cats.put(c, wins(js, p -> p.q().category().equals(c)));
            }
            r = new Result(Mode.PAIRWISE, a.modelId(), b.modelId(), judge, qs.size(), null, null, wins(js, p -> true),
                    wins(js, p -> p.turn() == 1), wins(js, p -> p.turn() == 2), cats, client.usage(), files);
        }
        MtBench.say(log, String.format(Locale.ROOT, "judged in %.1f s: %s", (System.nanoTime() - t0) / 1e9, r.usage()));
        files.add(writeText(o.output.resolve("results.json"), json(r, client.options())));
        files.add(writeText(o.output.resolve("results.md"), markdown(r)));
        files.add(writeText(o.output.resolve("results.csv"), csv(r)));
        if (Report.plotsAvailable()) { // XChart is optional: without it, the scores are in results.md/.csv
            Plots.mtBenchByCategory(r, o.output, files);
        }
        return new Result(r.mode(), r.modelId(), r.baselineId(), r.judgeModel(), r.questions(), r.scores(),
                r.categoryScores(), r.wins(), r.turn1Wins(), r.turn2Wins(), r.categoryWins(), r.usage(), List.copyOf(files));
    }

    static Scores scores(List<Single> js, Predicate<Single> in) {
        double[] sum = new double[3];
        int[] n = new int[3];
        int unscored = 0;
        for (Single s : js) {
            if (!in.test(s)) {
                continue;
            }
            if (s.score() == -1) {
                unscored++;
                continue;
            }
            sum[s.turn()] += s.score();
            n[s.turn()]++;
            sum[0] += s.score();
            n[0]++;
        }
        return new Scores(mean(sum[1], n[1]), mean(sum[2], n[2]), mean(sum[0], n[0]), n[0], unscored);
    }

    private static double mean(double s, int n) {
        return n == 0 ? Double.NaN : s / n;
    }

    static Wins wins(List<Pair> js, Predicate<Pair> in) {
        int w = 0;
        int l = 0;
        int t = 0;
        int e = 0;
        for (Pair p : js) {
            if (!in.test(p)) {
                continue;
            }
            switch (p.outcome()) {
                case "win" -> w++;
                case "loss" -> l++;
                case "tie" -> t++;
                default -> e++;
            }
        }
        return new Wins(w, l, t, e);
    }

    // ---- tables ------------------------------------------------------------------------------

    static String num(double v, String fmt) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, fmt, v) : "–";
    }

    static String markdown(Result r) {
        StringBuilder sb = new StringBuilder("# MT-Bench: ").append(r.modelId());
        if (r.mode() == Mode.SINGLE) {
            sb.append("\n\nSingle-answer grading (1–10) by ").append(r.judgeModel()).append(" over ").append(r.questions())
                    .append(" question(s) × 2 turns.\n\n");
            Scores s = r.scores();
            sb.append(String.format(Locale.ROOT, "**Score: %s** (turn 1: %s, turn 2: %s)%n%n", num(s.mean(), "%.3f"),
                    num(s.turn1(), "%.3f"), num(s.turn2(), "%.3f")));
            sb.append("| category | turn 1 | turn 2 | mean | judged | no score |\n|---|---|---|---|---|---|\n");
            r.categoryScores().forEach((c, x) -> sb.append(singleRow(c, x)));
            sb.append(singleRow("**all**", s));
            if (s.unscored() > 0) {
                sb.append("\n").append(s.unscored()).append(" judgment(s) had no [[rating]] (score −1 in the judgment "
                        + "file); they are left out of the means, as FastChat's show_result.py does.\n");
            }
        } else {
            sb.append(" against ").append(r.baselineId()).append("\n\nPairwise comparison by ").append(r.judgeModel())
                    .append(" over ").append(r.questions()).append(" question(s) × 2 turns, each judged in both orders; "
                            + "a win needs both orders to agree, a disagreement is a tie.\n\n");
            Wins w = r.wins();
            sb.append(String.format(Locale.ROOT, "**Win rate (ties count ½): %s** (wins %s, losses %s)%n%n",
                    num(w.adjustedWinRate(), "%.3f"), num(w.winRate(), "%.3f"), num(w.lossRate(), "%.3f")));
            sb.append("| category | wins | losses | ties | errors | win rate | loss rate | win rate (ties ½) |\n"
                    + "|---|---|---|---|---|---|---|---|\n");
            r.categoryWins().forEach((c, x) -> sb.append(pairRow(c, x)));
            sb.append(pairRow("turn 1", r.turn1Wins())).append(pairRow("turn 2", r.turn2Wins()))
                    .append(pairRow("**all**", w));
            if (w.errors() > 0) {
                sb.append("\n").append(w.errors()).append(" question-turn(s) had a judgment without [[A]], [[B]] or [[C]] "
                        + "(winner 'error' in the judgment file); they are left out of the rates, as in FastChat.\n");
            }
        }
        sb.append("\nJudge usage: ").append(r.usage()).append(".\n");
        return sb.toString();
    }

    private static String singleRow(String c, Scores x) {
        return String.format(Locale.ROOT, "| %s | %s | %s | %s | %d | %d |%n", c, num(x.turn1(), "%.3f"), num(x.turn2(), "%.3f"),
                num(x.mean(), "%.3f"), x.judged(), x.unscored());
    }

    private static String pairRow(String c, Wins x) {
        return String.format(Locale.ROOT, "| %s | %d | %d | %d | %d | %s | %s | %s |%n", c, x.wins(), x.losses(), x.ties(),
                x.errors(), num(x.winRate(), "%.3f"), num(x.lossRate(), "%.3f"), num(x.adjustedWinRate(), "%.3f"));
    }

    static String csv(Result r) {
        StringBuilder sb = new StringBuilder();
        if (r.mode() == Mode.SINGLE) {
            sb.append("category,turn1,turn2,mean,judged,unscored\n");
            Map<String, Scores> m = new LinkedHashMap<>(r.categoryScores());
            m.put("all", r.scores());
            m.forEach((c, x) -> sb.append(c).append(',').append(cnum(x.turn1())).append(',').append(cnum(x.turn2())).append(',')
                    .append(cnum(x.mean())).append(',').append(x.judged()).append(',').append(x.unscored()).append('\n'));
        } else {
            sb.append("category,wins,losses,ties,errors,win_rate,loss_rate,win_rate_adjusted\n");
            Map<String, Wins> m = new LinkedHashMap<>(r.categoryWins());
            m.put("turn1", r.turn1Wins());
            m.put("turn2", r.turn2Wins());
            m.put("all", r.wins());
            m.forEach((c, x) -> sb.append(c).append(',').append(x.wins()).append(',').append(x.losses()).append(',')
                    .append(x.ties()).append(',').append(x.errors()).append(',').append(cnum(x.winRate())).append(',')
                    .append(cnum(x.lossRate())).append(',').append(cnum(x.adjustedWinRate())).append('\n'));
        }
        return sb.toString();
    }

    private static String cnum(double v) {
        return Double.isFinite(v) ? Sweep.format(v) : "";
    }

    static String json(Result r, ChatClient.Options judge) {
        ObjectNode n = JSON.createObjectNode();
        n.put("mode", r.mode().name().toLowerCase(Locale.ROOT));
        n.put("model_id", r.modelId());
        if (r.baselineId() != null) {
            n.put("baseline_id", r.baselineId());
        }
        n.put("judge_model", r.judgeModel());
        n.put("judge_url", judge.url());
        n.put("questions", r.questions());
        n.put("score", r.score());
        if (r.mode() == Mode.SINGLE) {
            putScores(n, r.scores());
            ObjectNode c = n.putObject("categories");
            r.categoryScores().forEach((k, v) -> putScores(c.putObject(k), v));
        } else {
            putWins(n, r.wins());
            putWins(n.putObject("turn1"), r.turn1Wins());
            putWins(n.putObject("turn2"), r.turn2Wins());
            ObjectNode c = n.putObject("categories");
            r.categoryWins().forEach((k, v) -> putWins(c.putObject(k), v));
        }
        ChatClient.Usage u = r.usage();
        n.putObject("judge_usage").put("calls", u.answered() + u.cached()).put("cached", u.cached())
                .put("http_requests", u.requests()).put("retries", u.retries()).put("prompt_tokens", u.promptTokens())
                .put("completion_tokens", u.completionTokens());
        return n.toPrettyString() + "\n";
    }

    private static void putScores(ObjectNode n, Scores s) {
        putNum(n, "turn1", s.turn1());
        putNum(n, "turn2", s.turn2());
        putNum(n, "mean", s.mean());
        n.put("judged", s.judged());
        n.put("unscored", s.unscored());
    }

    private static void putWins(ObjectNode n, Wins w) {
        n.put("wins", w.wins()).put("losses", w.losses()).put("ties", w.ties()).put("errors", w.errors());
        putNum(n, "win_rate", w.winRate());
        putNum(n, "loss_rate", w.lossRate());
        putNum(n, "win_rate_adjusted", w.adjustedWinRate());
    }

    private static void putNum(ObjectNode n, String k, double v) {
        if (Double.isFinite(v)) {
            n.put(k, v);
        } else {
            n.putNull(k);
        }
    }

    /** Writes to a temporary file beside {@code file}, then moves it into place. */
    static Path writeText(Path file, String text) {
        try {
            Path tmp = file.resolveSibling("." + file.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".tmp");
            try {
                Files.write(tmp, io.github.align4j.internal.Utf8Out.bytes(file, text));
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
            return file;
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot write: " + e.getMessage(), e);
        }
    }
}
