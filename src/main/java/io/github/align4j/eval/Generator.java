package io.github.align4j.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.data.ChatTemplate;
import io.github.align4j.data.Message;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.KvCache;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.model.internal.SequenceLimits;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * Samples completions from a causal LM with a KV cache.
 *
 * <pre>{@code
 * Generator g = new Generator(lm, tokenizer);
 * List<String> out = g.generate("Name a colour.", new SamplingOptions(64, 0.7, 0.9, 50, 1, 4), true);
 * }</pre>
 *
 * <p>The samples of one prompt are decoded as one batch: the prompt runs once per sample row
 * through the model, filling the cache, then each step feeds one token per row. The last
 * position's logits ([numSamples, V]) are copied to the JVM and the token is picked there (see
 * {@link SamplingOptions}), so sampling is reproducible across runs and devices. Generation of a
 * row ends at a stop token (the tokenizer's EOS, {@code eos_token_id} of {@code config.json}, and
 * of {@code generation_config.json} when the model came from a folder) or after
 * {@code maxNewTokens} tokens; the stop token is not returned. Every step runs in an
 * {@link NDScope}, so native memory stays flat however long the completion.
 */
public final class Generator {
    static {
        Offline.ensure();
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final CausalLM lm;
    private final TextTokenizer tokenizer;
    private final Set<Integer> stopIds;
    private ChatTemplate template; // parsed on first use

    /**
     * @param lm the model (frozen or trainable; no graph is built)
     * @param tokenizer its tokenizer; may be null for the token-id methods
     */
    public Generator(CausalLM lm, TextTokenizer tokenizer) {
        this.lm = lm;
        this.tokenizer = tokenizer;
        this.stopIds = stopIds(lm, tokenizer);
    }

    /** The ids that end a completion. */
    public Set<Integer> stopIds() {
        return stopIds;
    }

    /**
     * numSamples completions of one prompt (token ids in, token ids out without the prompt, EOS
     * excluded; stops at EOS or maxNewTokens). Seeded: the same seed gives the same samples.
     * Samples of one prompt are decoded as one batch with a KV cache. An empty prompt starts from
     * the BOS token (or the EOS token when there is no BOS, as GPT-2 does).
     */
    public List<int[]> generate(int[] promptIds, SamplingOptions o) {
        return run(promptIds, o, true).tokens();
    }

    /**
     * Text in/out; applies the tokenizer's chat template (user message + generation prompt) when
     * useChatTemplate and the tokenizer has one. Completions are decoded without special tokens.
     */
    public List<String> generate(String prompt, SamplingOptions o, boolean useChatTemplate) {
        List<int[]> out = generate(encodePrompt(prompt, useChatTemplate), o);
        List<String> texts = new ArrayList<>(out.size());
        for (int[] c : out) {
            texts.add(decode(c));
        }
        return texts;
    }

    /**
     * The token ids the model sees for a prompt: the chat template's rendering of one user message
     * with the generation prompt (when asked for and the tokenizer has a template), else the text
     * itself, rendered by {@link ChatTemplate} as the data package renders training prompts. No BOS
     * is added unless the template writes it, as in training data.
     */
    public int[] encodePrompt(String prompt, boolean useChatTemplate) {
        TextTokenizer t = requireTokenizer();
        String text = prompt;
        if (useChatTemplate && t.chatTemplate() != null) {
            text = chatTemplate().render(List.of(Message.user(prompt)), true);
        }
        return t.encode(text);
    }

    private synchronized ChatTemplate chatTemplate() {
        if (template == null) {
            TextTokenizer t = requireTokenizer();
            String source = t.dir() == null ? "tokenizer_config.json" : t.dir().resolve("tokenizer_config.json").toString();
            template = ChatTemplate.of(t.chatTemplate(), t.specialTokens(), source);
        }
        return template;
    }

    /** Completion ids to text, special tokens skipped. */
    public String decode(int[] completion) {
        return requireTokenizer().decode(completion, true);
    }

    private TextTokenizer requireTokenizer() {
        if (tokenizer == null) {
            throw new Align4jException("text generation needs the model's tokenizer: put tokenizer.json in the model folder "
                    + "(or pass a tokenizer to new Generator(lm, tokenizer))");
        }
        return tokenizer;
    }

    /**
     * Completions and whether each ended at a stop token (which {@code tokens} leaves out).
     *
     * @param prompt the ids the model was given (the start token for an empty prompt)
     */
    record Result(int[] prompt, List<int[]> tokens, boolean[] stopped, int[] stopToken) {
        /** Sample j with its stop token appended when it ended at one: the sequence the model chose. */
        int[] withStop(int j) {
            int[] t = tokens.get(j);
            if (!stopped[j]) {
                return t;
            }
            int[] s = Arrays.copyOf(t, t.length + 1);
            s[t.length] = stopToken[j];
            return s;
        }
    }

    /**
     * The decoding loop.
     *
     * @param useCache false recomputes the whole prefix every step (for the benchmark and tests)
     */
    Result run(int[] promptIds, SamplingOptions o, boolean useCache) {
        int[] prompt = promptIds.length > 0 ? promptIds : new int[] {startToken()};
        int n = o.numSamples();
        int p = prompt.length;
        int budget = o.maxNewTokens();
        SequenceLimits.checkLength(lm.config(), p, "the prompt", "shorten the prompt");
        budget = Math.min(budget, lm.config().maxPositions() - p); // no position past the model's last
        SequenceLimits.checkMemory(lm, n, p, false, "lower --num-samples or shorten the prompt");
        int vocab = lm.config().vocabSize();
        int[][] out = new int[n][budget];
        int[] len = new int[n];
        boolean[] stopped = new boolean[n];
        int[] stopToken = new int[n];
        Arrays.fill(stopToken, -1);
        Random rng = new Random(o.seed());
        Sampler sampler = new Sampler(vocab, o);
        // Every row's full sequence, post-stop tokens included (they are computed but ignored).
        long[] seq = new long[n * (p + budget)];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < p; j++) {
                seq[i * (p + budget) + j] = prompt[j];
            }
        }
        int width = p + budget;
        int filled = p;
        int live = n;
        try (NDManager g = lm.manager().newSubManager()) {
            KvCache cache = useCache ? lm.newCache() : null;
            for (int step = 0; step < budget && live > 0; step++) {
                int from = useCache && step > 0 ? filled - 1 : 0;
                int t = filled - from;
                long[] ids = new long[n * t];
                for (int i = 0; i < n; i++) {
                    System.arraycopy(seq, i * width + from, ids, i * t, t);
                }
                float[] logits;
                try (NDScope scope = new NDScope()) {
                    NDArray h = lm.hidden(g.create(ids, new Shape(n, t)), cache); // [n, t, E]
                    NDArray lg = lm.head(h.get(new NDIndex(":, -1, :"))); // [n, V]
                    if (lg.getDataType() != DataType.FLOAT32) {
                        lg = lg.toType(DataType.FLOAT32, false);
                    }
                    logits = lg.toFloatArray();
                }
                for (float v : logits) {
                    if (!Float.isFinite(v)) { // NaN or an overflow: nothing can be sampled from it
                        throw lm.nonFiniteOutput("logits");
                    }
                }
                for (int i = 0; i < n; i++) {
                    int tok;
                    if (stopped[i]) {
                        tok = stopToken[i];
                    } else {
                        tok = sampler.pick(logits, i * vocab, rng);
                        if (stopIds.contains(tok)) {
                            stopped[i] = true;
                            stopToken[i] = tok;
                            live--;
                        } else {
                            out[i][len[i]++] = tok;
                        }
                    }
                    seq[i * width + filled] = tok;
                }
                filled++;
            }
        }
        List<int[]> tokens = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            tokens.add(Arrays.copyOf(out[i], len[i]));
        }
        return new Result(prompt, tokens, stopped, stopToken);
    }

    private int startToken() {
        Integer b = tokenizer != null && tokenizer.bosId() != null ? tokenizer.bosId() : lm.config().bosTokenId();
        if (b != null) {
            return b;
        }
        if (!stopIds.isEmpty()) {
            return stopIds.iterator().next();
        }
        throw new Align4jException("the prompt is empty and the model names no bos_token_id or eos_token_id to start from; "
                + "give a non-empty prompt");
    }

    private static Set<Integer> stopIds(CausalLM lm, TextTokenizer tok) {
        Set<Integer> s = new LinkedHashSet<>();
        if (tok != null && tok.eosId() != null) {
            s.add(tok.eosId());
        }
        if (lm.config().eosTokenId() != null) {
            s.add(lm.config().eosTokenId());
        }
        addIds(s, lm.config().json() == null ? null : lm.config().json().get("eos_token_id"));
        Path src = lm.source();
        if (src != null) {
            Path gen = io.github.align4j.internal.FolderFiles.inside(src, src.resolve("generation_config.json"), "model folder");
            if (Files.isRegularFile(gen)) {
                try {
                    JsonNode n = JSON.readTree(gen.toFile());
                    addIds(s, n == null ? null : n.get("eos_token_id"));
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw new Align4jException(io.github.align4j.internal.Texts.jsonError(gen + ": not valid JSON", e)
                            + "; fix or delete the file", e);
                } catch (IOException e) {
                    throw new Align4jException(gen + ": cannot read: " + e.getMessage(), e);
                }
            }
        }
        s.removeIf(id -> id < 0 || id >= lm.config().vocabSize());
        return java.util.Collections.unmodifiableSet(s);
    }

    private static void addIds(Set<Integer> s, JsonNode n) {
        if (n == null || n.isNull()) {
            return;
        }
        if (n.isArray()) {
            n.forEach(v -> {
                if (v.canConvertToInt()) {
                    s.add(v.asInt());
                }
            });
        } else if (n.canConvertToInt()) {
            s.add(n.asInt());
        }
    }
}
