package io.github.align4j.eval;

import io.github.align4j.eval.MtBenchData.JudgePrompt;
import io.github.align4j.eval.MtBenchData.Question;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** FastChat's judge prompts for one question and turn, and how a judgment is read (gen_judgment.py, common.py). */
final class MtBenchJudging {
    private static final Pattern SCORE = Pattern.compile("\\[\\[(\\d+\\.?\\d*)\\]\\]");
    private static final Pattern SCORE_BACKUP = Pattern.compile("\\[(\\d+\\.?\\d*)\\]");

    private MtBenchJudging() {}

    /** A prompt to send and the name of the judge prompt it was made from. */
    record Match(Question question, int turn, String promptName, ChatClient.Prompt prompt) {}

    /** The judge prompt's name: {@code single-v1}, {@code single-math-v1} and their {@code -multi-turn} variants. */
    static String singleName(Question q, int turn) {
        return (q.needsReference() ? "single-math-v1" : "single-v1") + (turn == 2 ? "-multi-turn" : "");
    }

    /** {@code pair-v2}, {@code pair-math-v1} and their {@code -multi-turn} variants. */
    static String pairName(Question q, int turn) {
        return (q.needsReference() ? "pair-math-v1" : "pair-v2") + (turn == 2 ? "-multi-turn" : "");
    }

    /** Single-answer grading of turn 1 or 2 of one model's answer. */
    static Match single(Question q, int turn, List<String> answer, List<String> reference, Map<String, JudgePrompt> prompts) {
        String name = singleName(q, turn);
        Map<String, String> v = common(q, reference);
        v.put("answer", at(answer, 0));
        v.put("answer_1", at(answer, 0));
        v.put("answer_2", at(answer, 1));
        JudgePrompt p = prompts.get(name);
        return new Match(q, turn, name, new ChatClient.Prompt(p.system(), MtBenchData.format(p.template(), v)));
    }

    /** Pairwise comparison of turn 1 or 2: {@code a} is shown as assistant A, {@code b} as B. */
    static Match pair(Question q, int turn, List<String> a, List<String> b, List<String> reference,
            Map<String, JudgePrompt> prompts) {
        String name = pairName(q, turn);
        Map<String, String> v = common(q, reference);
        v.put("answer_a", at(a, 0));
        v.put("answer_b", at(b, 0));
        v.put("answer_a_1", at(a, 0));
        v.put("answer_b_1", at(b, 0));
        v.put("answer_a_2", at(a, 1));
        v.put("answer_b_2", at(b, 1));
        JudgePrompt p = prompts.get(name);
        return new Match(q, turn, name, new ChatClient.Prompt(p.system(), MtBenchData.format(p.template(), v)));
    }

    private static Map<String, String> common(Question q, List<String> reference) {
        Map<String, String> v = new HashMap<>();
        v.put("question", at(q.turns(), 0));
        v.put("question_1", at(q.turns(), 0));
        v.put("question_2", at(q.turns(), 1));
        v.put("ref_answer_1", at(reference, 0));
        v.put("ref_answer_2", at(reference, 1));
        return v;
    }

    private static String at(List<String> l, int i) {
        return l != null && i < l.size() ? l.get(i) : "";
    }

    /** The scale of every single-answer prompt ("on a scale of 1 to 10"). */
    static final double MIN_RATING = 1;
    static final double MAX_RATING = 10;

    /**
     * The rating of a single-answer judgment: the first {@code [[x]]}, else the first {@code [x]},
     * else −1. A rating outside the prompts' scale of 1 to 10 ({@code [[11]]}, {@code [[0]]}, a
     * string of hundreds of digits) is no rating either: −1.
     */
    static double rating(String judgment) {
        if (judgment == null) {
            return -1;
        }
        Matcher m = SCORE.matcher(judgment);
        if (!m.find()) {
            m = SCORE_BACKUP.matcher(judgment);
            if (!m.find()) {
                return -1;
            }
        }
        String x = m.group(1);
        if (x.length() > 12) {
            return -1; // "10.000000000" at most: a longer number is off the scale (or would parse to Infinity)
        }
        try {
            double v = Double.parseDouble(x);
            return v >= MIN_RATING && v <= MAX_RATING ? v : -1;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Whether a single-answer judgment holds a rating on the scale (only those are cached). */
    static boolean rated(String judgment) {
        return rating(judgment) != -1;
    }

    /** Whether a pairwise judgment holds a verdict (only those are cached). */
    static boolean decided(String judgment) {
        return judgment != null && !verdict(judgment).equals("error");
    }

    /** The verdict of a pairwise judgment: "A", "B", "tie" ({@code [[C]]}) or "error", checked in that order. */
    static String verdict(String judgment) {
        if (judgment.contains("[[A]]")) {
            return "A";
        }
        if (judgment.contains("[[B]]")) {
            return "B";
        }
        if (judgment.contains("[[C]]")) {
            return "tie";
        }
        return "error";
    }

    /**
     * The outcome for the model (model_1) from both orders, as FastChat's show_result.py counts it:
     * "error" when either order has no verdict; "win"/"loss" when both orders agree; otherwise
     * (the orders disagree, or both say tie) "tie".
     *
     * @param g1 the verdict with the model as A
     * @param g2 the verdict with the model as B
     */
    static String outcome(String g1, String g2) {
        String w1 = g1.equals("A") ? "model_1" : g1.equals("B") ? "model_2" : g1;
        String w2 = g2.equals("A") ? "model_2" : g2.equals("B") ? "model_1" : g2;
        if (w1.equals("error") || w2.equals("error")) {
            return "error";
        }
        if (w1.equals("tie") || !w1.equals(w2)) {
            return "tie";
        }
        return w1.equals("model_1") ? "win" : "loss";
    }

    /** FastChat's g1_winner/g2_winner value for a verdict in game 1 (model as A) or game 2 (model as B). */
    static String winnerField(String verdict, boolean game1) {
        return switch (verdict) {
            case "A" -> game1 ? "model_1" : "model_2";
            case "B" -> game1 ? "model_2" : "model_1";
            default -> verdict;
        };
    }
}
