package io.github.align4j.eval;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.Align4jException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * A sweep's {@code eval: {mt_bench: {...}}} entry: each cell's final model is scored with
 * {@link MtBench} (single-answer grading) and the score becomes the sweep's primary metric
 * ({@code mt_bench}), the blog's table: rows = algorithm, columns = β, cells = MT-Bench score.
 *
 * <pre>
 * eval:
 *   mt_bench:
 *     judge_url: https://api.openai.com/v1
 *     judge_model: gpt-4
 *     judge_api_key_env: OPENAI_API_KEY   # the key is read from this variable, never from the file
 *     max_new_tokens: 1024                # per answer turn (FastChat's default)
 *     questions: 80                       # the first N questions, or a list of question ids
 *     judge_concurrency: 8
 *     judge_allow_http: false             # true: send the key over plain http:// to another machine
 * </pre>
 *
 * @param judgeUrl the OpenAI-compatible endpoint
 * @param judgeModel the judge's model name
 * @param apiKeyEnv the environment variable holding the API key, or null for a server without one
 * @param maxNewTokens tokens per answer turn
 * @param questionLimit the first N questions (0: all 80)
 * @param questionIds only these question ids (empty: by questionLimit)
 * @param concurrency judge requests at once
 * @param allowPlainHttp send the key over plain http to another machine (refused otherwise)
 */
public record SweepEval(String judgeUrl, String judgeModel, String apiKeyEnv, int maxNewTokens, int questionLimit,
        List<Integer> questionIds, int concurrency, boolean allowPlainHttp) {
    static final List<String> KEYS = List.of("judge_url", "judge_model", "judge_api_key_env", "max_new_tokens", "questions",
            "judge_concurrency", "judge_allow_http");

    public SweepEval {
        questionIds = List.copyOf(questionIds);
        ChatClient.Options probe = ChatClient.Options.of(judgeUrl, judgeModel); // checks the URL and the model name
        if (apiKeyEnv != null && !apiKeyEnv.isBlank()) {
            // refused when the file is read, not after the first cell has trained; the key itself is read later
            probe.withApiKey(apiKeyEnv, "(read later)").withPlainHttp(allowPlainHttp).checkTransport();
        }
        if (maxNewTokens < 1 || concurrency < 1 || questionLimit < 0) {
            throw new Align4jException("eval: mt_bench: max_new_tokens and judge_concurrency must be ≥ 1 and questions ≥ 0");
        }
    }

    /** Reads the {@code eval:} node of a sweep file; null when the file has none. */
    static SweepEval parse(Path file, JsonNode eval) {
        if (eval == null || eval.isNull()) {
            return null;
        }
        String where = file + ": eval: ";
        if (!eval.isObject() || eval.size() != 1 || !eval.has("mt_bench") || !eval.get("mt_bench").isObject()) {
            throw new Align4jException(where + "expected one entry, mt_bench: {judge_url: ..., judge_model: ...}, e.g.\n"
                    + "eval:\n  mt_bench:\n    judge_url: http://localhost:8000/v1\n    judge_model: judge");
        }
        JsonNode m = eval.get("mt_bench");
        m.fieldNames().forEachRemaining(k -> {
            if (!KEYS.contains(k)) {
                throw new Align4jException(where + "mt_bench: unknown key '" + k + "'. Known keys: " + String.join(", ", KEYS)
                        + (k.contains("key") && !k.endsWith("_env") ? " (an API key is never read from a file: name its "
                                + "environment variable with judge_api_key_env)" : ""));
            }
        });
        for (String k : List.of("judge_url", "judge_model")) {
            if (!m.hasNonNull(k) || !m.get(k).isTextual() || m.get(k).asText().isBlank()) {
                throw new Align4jException(where + "mt_bench: '" + k + "' is missing; e.g. judge_url: http://localhost:8000/v1, "
                        + "judge_model: judge");
            }
        }
        int limit = 0;
        List<Integer> ids = new ArrayList<>();
        JsonNode q = m.get("questions");
        if (q != null && q.isArray()) {
            for (JsonNode id : q) {
                if (!id.isIntegralNumber() || !id.canConvertToInt()) {
                    throw new Align4jException(where + "mt_bench: questions: '" + id + "' is not a question id (81–160)");
                }
                ids.add(id.asInt());
            }
        } else if (q != null && !q.isNull()) {
            if (!q.isIntegralNumber() || !q.canConvertToInt() || q.asInt() < 1) {
                throw new Align4jException(where + "mt_bench: questions: give a count (e.g. 80) or a list of ids, got " + q);
            }
            limit = q.asInt();
        }
        try {
            return new SweepEval(m.get("judge_url").asText(), m.get("judge_model").asText(),
                    m.hasNonNull("judge_api_key_env") ? m.get("judge_api_key_env").asText() : null,
                    intKey(m, "max_new_tokens", 1024, where), limit, ids, intKey(m, "judge_concurrency", 8, where),
                    allowHttp(m, where));
        } catch (Align4jException e) {
            throw e.getMessage().startsWith(file.toString()) ? e : new Align4jException(where + e.getMessage(), e);
        }
    }

    private static boolean allowHttp(JsonNode m, String where) {
        JsonNode v = m.get("judge_allow_http");
        if (v == null || v.isNull()) {
            return false;
        }
        if (!v.isBoolean()) {
            throw new Align4jException(where + "mt_bench: judge_allow_http: expected true or false, got " + v);
        }
        return v.booleanValue();
    }

    private static int intKey(JsonNode m, String key, int dflt, String where) {
        JsonNode v = m.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        return io.github.align4j.internal.JsonInts.of(v, where + "mt_bench: " + key, 1, Integer.MAX_VALUE);
    }

    /** The judge's client settings; the key comes from the environment, now. */
    ChatClient.Options judge(Path cache) {
        String key = null;
        if (apiKeyEnv != null && !apiKeyEnv.isBlank()) {
            key = System.getenv(apiKeyEnv);
            if (key == null || key.isBlank()) {
                throw new Align4jException("eval: mt_bench: judge_api_key_env " + apiKeyEnv + ": the environment variable is "
                        + "not set; export it (export " + apiKeyEnv + "=...) or remove the key for a server that needs none");
            }
        }
        return ChatClient.Options.of(judgeUrl, judgeModel).withApiKey(apiKeyEnv, key).withConcurrency(concurrency)
                .withCache(cache).withPlainHttp(allowPlainHttp);
    }

    /** Scores one model folder; answers, judgments and results go to out. */
    MtBench.Result score(Path model, Path out, Path cache, Device device, long seed, Consumer<String> log) {
        return score(model, null, out, cache, device, seed, log);
    }

    /** As above, for a LoRA cell: the base {@code model} with the cell's {@code adapter} (null: a full checkpoint). */
    MtBench.Result score(Path model, Path adapter, Path out, Path cache, Device device, long seed, Consumer<String> log) {
        MtBench.Options o = MtBench.Options.forModel(model).judge(judge(cache)).output(out).maxNewTokens(maxNewTokens)
                .device(device).seed(seed);
        if (adapter != null) {
            o.adapter(adapter);
        }
        if (!questionIds.isEmpty()) {
            o.questionIds(questionIds);
        } else if (questionLimit > 0) {
            o.questionLimit(questionLimit);
        }
        return MtBench.run(o, log);
    }

    /** Judge calls per cell and seed: one per question and turn. */
    int callsPerCell() {
        return 2 * (!questionIds.isEmpty() ? questionIds.size() : questionLimit > 0 ? Math.min(80, questionLimit) : 80);
    }

    /** For the plan and for result.json (names the key's variable, never the key). */
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "MT-Bench (single grading) judged by %s at %s%s, %s, %d new tokens per turn",
                judgeModel, judgeUrl, apiKeyEnv == null ? "" : " (key from $" + apiKeyEnv + ")",
                !questionIds.isEmpty() ? "questions " + questionIds : questionLimit > 0 ? "first " + questionLimit
                        + " questions" : "80 questions", maxNewTokens);
    }
}
