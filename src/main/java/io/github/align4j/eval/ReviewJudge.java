package io.github.align4j.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * The demo's ground-truth reward: a lexicon sentiment score of a product review, with a grammar
 * check and a topic check. It reads only the prompt and completion text, never the model.
 *
 * <p>A completion must be one to four sentences, each of one of these forms (words separated by
 * single spaces):
 * <pre>
 *   the PRODUCT|ASPECT is [very|really] ADJECTIVE .
 *   i [really] VERB it .
 *   it works ADVERB .
 *   overall it is [very|really] ADJECTIVE .
 * </pre>
 * Each sentence scores +1 (positive word), −1 (negative) or 0 (neutral), × 1.5 with an
 * intensifier; the reward is the mean over sentences, in [−1.5, 1.5]. A review that names a
 * product other than the prompt's loses 1 (off topic). Anything else (a word out of place, an
 * unfinished sentence, five or more sentences, an empty completion) scores {@value #MALFORMED}.
 */
final class ReviewJudge implements Judge {
    /** The reward of a completion that is not a well-formed review. */
    static final double MALFORMED = -3.0;

    static final ReviewJudge INSTANCE = new ReviewJudge();

    /** Registry name. */
    static final String NAME = "review-sentiment";

    private ReviewJudge() {}

    /** Adds this judge to {@link Judges} under {@value #NAME} (idempotent). */
    static void register() {
        Judges.register(NAME, INSTANCE);
    }

    @Override
    public double score(String prompt, String completion) {
        String product = promptProduct(prompt);
        String[] words = completion.trim().isEmpty() ? new String[0] : completion.trim().split("\\s+");
        List<List<String>> sentences = new ArrayList<>();
        List<String> cur = new ArrayList<>();
        for (String w : words) {
            cur.add(w);
            if (w.equals(".")) {
                sentences.add(cur);
                cur = new ArrayList<>();
            }
        }
        if (!cur.isEmpty() || sentences.isEmpty() || sentences.size() > 4) {
            return MALFORMED;
        }
        double total = 0;
        boolean offTopic = false;
        for (List<String> s : sentences) {
            Double v = sentence(s);
            if (v == null) {
                return MALFORMED;
            }
            total += v;
            if (s.size() > 1 && DemoCorpus.PRODUCTS.contains(s.get(1)) && product != null && !s.get(1).equals(product)) {
                offTopic = true;
            }
        }
        double score = total / sentences.size() - (offTopic ? 1 : 0);
        return Math.round(score * 1e6) / 1e6; // equal reviews tie exactly, whatever the summation order

    }

    /** The product a prompt asks about (its last word before the colon), or null. */
    static String promptProduct(String prompt) {
        String[] w = prompt.trim().split("\\s+");
        for (int i = w.length - 1; i >= 0; i--) {
            if (DemoCorpus.PRODUCTS.contains(w[i])) {
                return w[i];
            }
        }
        return null;
    }

    /** A sentence's score, or null when it is not of the grammar. */
    static Double sentence(List<String> s) {
        int n = s.size();
        if (n < 4 || !s.get(n - 1).equals(".")) {
            return null;
        }
        // the X is [int] ADJ .
        if (s.get(0).equals("the") && (DemoCorpus.PRODUCTS.contains(s.get(1)) || DemoCorpus.ASPECTS.contains(s.get(1)))
                && s.get(2).equals("is")) {
            return adjectivePhrase(s.subList(3, n - 1));
        }
        // overall it is [int] ADJ .
        if (n >= 5 && s.get(0).equals("overall") && s.get(1).equals("it") && s.get(2).equals("is")) {
            return adjectivePhrase(s.subList(3, n - 1));
        }
        // i [really] VERB it .
        if (s.get(0).equals("i") && s.get(n - 2).equals("it")) {
            List<String> mid = s.subList(1, n - 2);
            double boost = 1;
            if (mid.size() == 2 && mid.get(0).equals("really")) {
                boost = 1.5;
                mid = mid.subList(1, 2);
            }
            if (mid.size() != 1) {
                return null;
            }
            String v = mid.get(0);
            if (DemoCorpus.POSITIVE_VERBS.contains(v)) {
                return boost;
            }
            return DemoCorpus.NEGATIVE_VERBS.contains(v) ? Double.valueOf(-boost) : null;
        }
        // it works ADV .
        if (n == 4 && s.get(0).equals("it") && s.get(1).equals("works")) {
            String a = s.get(2);
            if (DemoCorpus.POSITIVE_ADVERBS.contains(a)) {
                return 1.0;
            }
            if (DemoCorpus.NEGATIVE_ADVERBS.contains(a)) {
                return -1.0;
            }
            return DemoCorpus.NEUTRAL_ADVERBS.contains(a) ? Double.valueOf(0.0) : null;
        }
        return null;
    }

    private static Double adjectivePhrase(List<String> p) {
        double boost = 1;
        if (p.size() == 2 && DemoCorpus.INTENSIFIERS.contains(p.get(0))) {
            boost = 1.5;
            p = p.subList(1, 2);
        }
        if (p.size() != 1) {
            return null;
        }
        String a = p.get(0);
        if (DemoCorpus.POSITIVE_ADJECTIVES.contains(a)) {
            return boost;
        }
        if (DemoCorpus.NEGATIVE_ADJECTIVES.contains(a)) {
            return -boost;
        }
        return DemoCorpus.NEUTRAL_ADJECTIVES.contains(a) ? Double.valueOf(0.0) : null;
    }
}
