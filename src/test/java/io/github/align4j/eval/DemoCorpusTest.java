package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.internal.Offline;
import io.github.align4j.model.TextTokenizer;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo's generated task: held-out prompts stay out of training, the judge reads the grammar, the tokenizer is exact. */
class DemoCorpusTest {
    static {
        Offline.ensure();
    }

    final ReviewJudge judge = ReviewJudge.INSTANCE;

    @Test
    void aQuarterOfThePromptsIsHeldOutAndNeverInTheSftCorpus() {
        List<DemoCorpus.Prompt> all = DemoCorpus.prompts();
        assertEquals(192, all.size());
        assertEquals(48, DemoCorpus.heldOutPrompts().size());
        Set<String> heldOut = new HashSet<>();
        DemoCorpus.heldOutPrompts().forEach(p -> heldOut.add(p.text()));
        for (DemoCorpus.Example e : DemoCorpus.sftCorpus(1, 4)) {
            assertFalse(heldOut.contains(e.prompt()), "held-out prompt in the SFT corpus: " + e.prompt());
        }
        // every product and every modifier still occurs in training
        Set<String> products = new HashSet<>();
        Set<String> modifiers = new HashSet<>();
        DemoCorpus.trainPrompts().forEach(p -> {
            products.add(p.product());
            modifiers.add(p.modifier());
        });
        assertEquals(DemoCorpus.PRODUCTS.size(), products.size());
        assertEquals(DemoCorpus.MODIFIERS.size(), modifiers.size());
    }

    @Test
    void everyCorpusReviewIsWellFormedAndTheirRewardsVary() {
        Random r = new Random(3);
        Set<Double> rewards = new HashSet<>();
        int positive = 0;
        int negative = 0;
        for (int i = 0; i < 2000; i++) {
            DemoCorpus.Prompt p = DemoCorpus.prompts().get(r.nextInt(192));
            String review = DemoCorpus.review(r, p.product());
            double s = judge.score(p.text(), review);
            assertNotEquals(ReviewJudge.MALFORMED, s, review);
            rewards.add(s);
            positive += s > 0 ? 1 : 0;
            negative += s < 0 ? 1 : 0;
        }
        assertTrue(rewards.size() >= 10, "mixed quality: " + rewards);
        assertTrue(positive > 500 && negative > 500, positive + " positive, " + negative + " negative");
    }

    @Test
    void judgeScoresSentimentTopicAndGrammar() {
        String prompt = "review of the red phone :";
        assertEquals(1.0, judge.score(prompt, "the phone is great ."));
        assertEquals(-1.0, judge.score(prompt, "the phone is awful ."));
        assertEquals(1.5, judge.score(prompt, "the phone is very great ."));
        assertEquals(0.25, judge.score(prompt, "the price is very good . it works poorly ."), 1e-9);
        assertEquals(1.0, judge.score(prompt, "i love it . it works well . overall it is nice ."));
        assertEquals(0.0, judge.score(prompt, "it works okay ."));
        assertEquals(0.5, judge.score(prompt, "the lamp is really great ."), 1e-9); // off topic: 1.5 − 1
        assertEquals(ReviewJudge.MALFORMED, judge.score(prompt, ""));
        assertEquals(ReviewJudge.MALFORMED, judge.score(prompt, "the phone is great"));
        assertEquals(ReviewJudge.MALFORMED, judge.score(prompt, "the phone is great great ."));
        assertEquals(ReviewJudge.MALFORMED, judge.score(prompt, "great ."));
        assertEquals(ReviewJudge.MALFORMED, judge.score(prompt, "i love it . i love it . i love it . i love it . i love it ."));
        assertEquals(judge.score(prompt, "the phone is good ."), judge.score("review of the red phone :", "the phone is good ."));
    }

    @Test
    void wordLevelTokenizerRoundTripsTheCorpus(@TempDir Path dir) {
        DemoCorpus.writeTokenizer(dir);
        try (TextTokenizer tok = TextTokenizer.load(dir, null)) {
            assertEquals(DemoCorpus.EOS_ID, tok.eosId());
            Random r = new Random(9);
            for (int i = 0; i < 50; i++) {
                DemoCorpus.Prompt p = DemoCorpus.prompts().get(r.nextInt(192));
                String text = p.text() + " " + DemoCorpus.review(r, p.product());
                int[] ids = tok.encode(text);
                for (int id : ids) {
                    assertTrue(id >= 4 && id < DemoCorpus.vocabSize(), "no unknown words: " + text);
                }
                assertEquals(text, tok.decode(ids, true));
                assertArrayEquals(ids, tok.encode(tok.decode(ids, true)));
            }
        }
    }
}
