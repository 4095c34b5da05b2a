package io.github.align4j.eval;

import io.github.align4j.Align4jException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link Judge} that asks an LLM behind an OpenAI-compatible endpoint to grade a completion 1–10
 * with MT-Bench's {@code single-v1} prompt (the prompt as the question, the completion as the
 * answer), for {@code align4j eval --judge openai:MODEL@URL}. A judgment without a rating scores
 * −1 (below every rating) and is counted in {@link #unscored()}; a rating off the 1–10 scale is no
 * rating. Rated replies are cached by the {@link ChatClient}, so the same completion is never
 * graded twice; an unrated one is asked again on the next run.
 */
public final class LlmJudge implements Judge {
    /** The prefix of judge names that mean an OpenAI-compatible endpoint. */
    public static final String PREFIX = "openai:";

    private final ChatClient client;
    private final MtBenchData.JudgePrompt prompt;
    private final AtomicLong unscored = new AtomicLong();

    public LlmJudge(ChatClient client) {
        this.client = client;
        this.prompt = MtBenchData.judgePrompts().get("single-v1");
    }

    /**
     * Reads {@code openai:MODEL@URL} (e.g. {@code openai:gpt-4o@https://api.openai.com/v1}) into
     * client options with the defaults of {@link ChatClient.Options#of}.
     */
    public static ChatClient.Options parse(String name) {
        String s = name == null ? "" : name.strip();
        int at = s.lastIndexOf("@http");
        if (!s.regionMatches(true, 0, PREFIX, 0, PREFIX.length()) || at <= PREFIX.length()) {
            throw new Align4jException("--judge '" + name + "': expected openai:MODEL@URL, e.g. "
                    + "openai:gpt-4o@https://api.openai.com/v1 or openai:my-judge@http://localhost:8000/v1");
        }
        return ChatClient.Options.of(s.substring(at + 1), s.substring(PREFIX.length(), at));
    }

    @Override
    public double score(String prompt, String completion) {
        String user = MtBenchData.format(this.prompt.template(), Map.of("question", prompt, "answer", completion));
        double r = MtBenchJudging.rating(client.complete(this.prompt.system(), user, MtBenchJudging::rated).content());
        if (r == -1) {
            unscored.incrementAndGet();
        }
        return r;
    }

    /** Judgments without a rating so far (scored −1). */
    public long unscored() {
        return unscored.get();
    }

    public ChatClient.Usage usage() {
        return client.usage();
    }
}
