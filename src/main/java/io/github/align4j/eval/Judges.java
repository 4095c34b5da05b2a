package io.github.align4j.eval;

import io.github.align4j.Align4jException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Named judges for {@code align4j eval --judge NAME}. Built-in tasks (the demo) register theirs;
 * names are case-insensitive. {@code openai:MODEL@URL} is an {@link LlmJudge} at that
 * OpenAI-compatible endpoint (no API key, no cache; build an {@link LlmJudge} for those).
 */
public final class Judges {
    private static final Map<String, Judge> REGISTRY = new LinkedHashMap<>();

    static {
        ReviewJudge.register(); // the demo's lexicon judge: align4j eval --judge review-sentiment
    }

    private Judges() {}

    /** Registers (or replaces) a judge under a name. */
    public static synchronized void register(String name, Judge judge) {
        if (name == null || name.isBlank() || judge == null) {
            throw new IllegalArgumentException("a judge needs a non-blank name and an implementation");
        }
        REGISTRY.put(name.trim().toLowerCase(java.util.Locale.ROOT), judge);
    }

    /** The judge of that name, or an error naming the registered ones. */
    public static synchronized Judge byName(String name) {
        if (name != null && name.strip().regionMatches(true, 0, LlmJudge.PREFIX, 0, LlmJudge.PREFIX.length())) {
            return new LlmJudge(new ChatClient(LlmJudge.parse(name)));
        }
        Judge j = name == null ? null : REGISTRY.get(name.trim().toLowerCase(java.util.Locale.ROOT));
        if (j == null) {
            throw new Align4jException("--judge '" + name + "': no such judge. "
                    + (REGISTRY.isEmpty()
                            ? "No judges are registered: judges come with built-in tasks (see 'align4j demo'); "
                                    + "for your own data use preference accuracy (eval without --judge)."
                            : "Registered judges: " + String.join(", ", names()) + ".")
                    + " An LLM judge behind an OpenAI-compatible endpoint: openai:MODEL@URL.");
        }
        return j;
    }

    /** Registered names, sorted. */
    public static synchronized Set<String> names() {
        return new TreeSet<>(REGISTRY.keySet());
    }
}
