package io.github.align4j.eval;

import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link PairwiseJudge} that asks an LLM behind an OpenAI-compatible endpoint with MT-Bench's
 * {@code pair-v2} prompt, in both orders (each completion once as assistant A, once as B), as
 * FastChat counts a pairwise match: a win needs both orders to agree; disagreeing orders, a
 * {@code [[C]]} verdict or a reply without a verdict are a tie (the last counted in
 * {@link #undecided()}). Replies with a verdict are cached by the {@link ChatClient}
 * ({@link ChatClient.Options#withCache}), so a resumed run asks nothing twice.
 */
public final class LlmPairJudge implements PairwiseJudge {
    private final ChatClient client;
    private final MtBenchData.JudgePrompt prompt;
    private final AtomicLong undecided = new AtomicLong();

    public LlmPairJudge(ChatClient client) {
        this.client = client;
        this.prompt = MtBenchData.judgePrompts().get("pair-v2");
    }

    @Override
    public int compare(String question, String a, String b) {
        String g1 = verdict(question, a, b);
        String g2 = verdict(question, b, a);
        String o = MtBenchJudging.outcome(g1, g2);
        if (o.equals("error")) {
            undecided.incrementAndGet();
        }
        return o.equals("win") ? 1 : o.equals("loss") ? -1 : 0;
    }

    private String verdict(String question, String a, String b) {
        String user = MtBenchData.format(prompt.template(), Map.of("question", question, "answer_a", a, "answer_b", b));
        return MtBenchJudging.verdict(client.complete(prompt.system(), user, MtBenchJudging::decided).content());
    }

    /** Comparisons where an order had no verdict (counted as ties). */
    public long undecided() {
        return undecided.get();
    }

    public ChatClient.Usage usage() {
        return client.usage();
    }
}
