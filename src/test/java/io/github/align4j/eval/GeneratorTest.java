package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.TinyTokenizer;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GeneratorTest {
    private static final int[] PROMPT = {5, 17, 3, 29, 11};

    @TempDir
    Path tmp;

    /** The last position's logits of a full (cache-free) forward pass. */
    static float[] lastLogits(CausalLM lm, int[] seq) {
        try (NDManager m = lm.manager().newSubManager()) {
            long[] ids = Arrays.stream(seq).asLongStream().toArray();
            return lm.logits(m.create(ids, new Shape(1, ids.length))).get(new NDIndex("0, -1")).toFloatArray();
        }
    }

    static int argmax(float[] v) {
        int b = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[b]) {
                b = i;
            }
        }
        return b;
    }

    static int[] concat(int[] a, int[] b, int bLen) {
        int[] s = Arrays.copyOf(a, a.length + bLen);
        System.arraycopy(b, 0, s, a.length, bLen);
        return s;
    }

    /**
     * The KV cache against the no-cache path: every greedy token equals the argmax of the full
     * logits of the growing sequence (rotary offsets, GQA, a sliding window and GPT-2's learned
     * positions included).
     */
    @Test
    void greedyEqualsArgmaxOfFullLogitsAtEveryStep() throws Exception {
        for (ModelConfig c : new ModelConfig[] {TinyModels.llama(""), TinyModels.mistral(), TinyModels.gpt2()}) {
            try (CausalLM lm = TinyModels.init(c, 11, 4f)) {
                Generator g = new Generator(lm, null);
                g.generate(PROMPT, SamplingOptions.greedy(16)); // fills the model's mask and rotary caches
                int before = lm.liveArrays();
                int[] out = g.generate(PROMPT, SamplingOptions.greedy(16)).get(0);
                assertEquals(before, lm.liveArrays(), c.modelType() + ": generation leaves no arrays behind");
                assertEquals(16, out.length, c.modelType() + ": no stop ids, so all 16 tokens");
                assertTrue(Arrays.stream(out).distinct().count() > 1, c.modelType() + ": a varied completion " + Arrays.toString(out));
                for (int k = 0; k < out.length; k++) {
                    float[] full = lastLogits(lm, concat(PROMPT, out, k));
                    int want = argmax(full);
                    assertTrue(out[k] == want || full[want] - full[out[k]] < 1e-5f,
                            c.modelType() + " step " + k + ": generated " + out[k] + ", full-logit argmax " + want);
                }
            }
        }
    }

    /** The cached logits of each step equal the last row of a full pass over the whole sequence. */
    @Test
    void cachedLogitsEqualFullPassLogits() throws Exception {
        for (ModelConfig c : new ModelConfig[] {TinyModels.llama(""), TinyModels.mistral(), TinyModels.gpt2()}) {
            try (CausalLM lm = TinyModels.init(c, 5, 4f); NDManager m = lm.manager().newSubManager()) {
                int[] seq = new java.util.Random(3).ints(20, 0, 40).toArray();
                io.github.align4j.model.KvCache cache = lm.newCache();
                long[] first = Arrays.stream(seq, 0, 6).asLongStream().toArray();
                float[] got = lm.head(lm.hidden(m.create(first, new Shape(1, 6)), cache).get(new NDIndex("0, -1"))).toFloatArray();
                for (int t = 6; ; t++) {
                    float[] want = lastLogits(lm, Arrays.copyOf(seq, t));
                    for (int v = 0; v < want.length; v++) {
                        assertEquals(want[v], got[v], 1e-4f, c.modelType() + " length " + t + " token " + v);
                    }
                    if (t == seq.length) {
                        break;
                    }
                    assertEquals(t, cache.length());
                    got = lm.head(lm.hidden(m.create(new long[] {seq[t]}, new Shape(1, 1)), cache).get(new NDIndex("0, -1")))
                            .toFloatArray();
                }
            }
        }
    }

    /** The same seed and options give the same tokens with and without the cache. */
    @Test
    void cachedAndRecomputedSamplingAgree() throws Exception {
        try (CausalLM lm = TinyModels.init(TinyModels.llama(""), 3, 8f)) {
            Generator g = new Generator(lm, null);
            SamplingOptions o = new SamplingOptions(16, 1.0, 1.0, 0, 99, 3);
            Generator.Result a = g.run(PROMPT, o, true);
            Generator.Result b = g.run(PROMPT, o, false);
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(b.tokens().get(i), a.tokens().get(i), "sample " + i);
            }
        }
    }

    @Test
    void seededSamplingIsReproducible() throws Exception {
        try (CausalLM lm = TinyModels.init(TinyModels.llama(""), 5, 4f)) {
            Generator g = new Generator(lm, null);
            SamplingOptions o = new SamplingOptions(12, 1.0, 0.95, 30, 7, 4);
            List<int[]> a = g.generate(PROMPT, o);
            List<int[]> b = g.generate(PROMPT, o);
            List<int[]> c = g.generate(PROMPT, o.withSeed(8));
            assertEquals(4, a.size());
            for (int i = 0; i < 4; i++) {
                assertArrayEquals(a.get(i), b.get(i), "same seed, same sample " + i);
            }
            assertFalse(sameLists(a, c), "another seed gives other samples");
            assertFalse(Arrays.equals(a.get(0), a.get(1)) && Arrays.equals(a.get(1), a.get(2)),
                    "the samples of one prompt differ from each other");
        }
    }

    static boolean sameLists(List<int[]> a, List<int[]> b) {
        for (int i = 0; i < a.size(); i++) {
            if (!Arrays.equals(a.get(i), b.get(i))) {
                return false;
            }
        }
        return true;
    }

    /** top-k = 1 (and a tiny top-p) leave one candidate: sampling at any temperature is greedy. */
    @Test
    void topKOneAndTinyTopPEqualGreedy() throws Exception {
        try (CausalLM lm = TinyModels.init(TinyModels.gpt2(), 2, 8f)) {
            Generator g = new Generator(lm, null);
            int[] greedy = g.generate(PROMPT, SamplingOptions.greedy(15)).get(0);
            for (int[] s : g.generate(PROMPT, new SamplingOptions(15, 1.7, 1.0, 1, 123, 3))) {
                assertArrayEquals(greedy, s, "top-k 1");
            }
            for (int[] s : g.generate(PROMPT, new SamplingOptions(15, 1.0, 1e-9, 0, 5, 2))) {
                assertArrayEquals(greedy, s, "top-p 1e-9");
            }
        }
    }

    /**
     * EOS: the weights are those of a model without eos_token_id, whose greedy completion is known;
     * naming the token it emits at step k as EOS must end the completion there, without the EOS.
     */
    @Test
    void stopsAtEosAndLeavesItOut() throws Exception {
        int[] free;
        try (CausalLM lm = TinyModels.init(TinyModels.llama(""), 22, 8f)) {
            free = new Generator(lm, null).generate(PROMPT, SamplingOptions.greedy(20)).get(0);
        }
        int k = 1;
        while (k < free.length && contains(free, k, free[k])) {
            k++;
        }
        assertTrue(k < free.length, "a token that first appears after step 0: " + Arrays.toString(free));
        int eos = free[k];
        try (CausalLM lm = TinyModels.init(TinyModels.llama(",\"eos_token_id\":" + eos), 22, 8f)) {
            Generator g = new Generator(lm, null);
            assertEquals(java.util.Set.of(eos), g.stopIds());
            Generator.Result r = g.run(PROMPT, SamplingOptions.greedy(20), true);
            assertArrayEquals(Arrays.copyOf(free, k), r.tokens().get(0));
            assertTrue(r.stopped()[0]);
            assertEquals(eos, r.withStop(0)[k]);
            // sampled rows stop independently; none returns the EOS
            Generator.Result s = g.run(PROMPT, new SamplingOptions(20, 1.0, 1.0, 0, 4, 6), true);
            for (int i = 0; i < 6; i++) {
                int[] t = s.tokens().get(i);
                assertFalse(Arrays.stream(t).anyMatch(x -> x == eos), Arrays.toString(t));
                assertTrue(s.stopped()[i] || t.length == 20);
            }
        }
    }

    static boolean contains(int[] a, int n, int v) {
        for (int i = 0; i < n; i++) {
            if (a[i] == v) {
                return true;
            }
        }
        return false;
    }

    /** GPT-2 cannot go past n_positions: the budget shrinks; a prompt that is too long is a clear error. */
    @Test
    void gpt2StopsAtItsPositionLimit() throws Exception {
        try (CausalLM lm = TinyModels.init(TinyModels.gpt2(), 1, 4f)) {
            Generator g = new Generator(lm, null);
            assertEquals(40 - PROMPT.length, g.generate(PROMPT, SamplingOptions.greedy(100)).get(0).length);
            Align4jException e = assertThrows(Align4jException.class, () -> g.generate(new int[41], SamplingOptions.greedy(1)));
            assertTrue(e.getMessage().contains("n_positions"), e.getMessage());
        }
    }

    @Test
    void emptyPromptStartsFromBos() throws Exception {
        try (CausalLM lm = TinyModels.init(TinyModels.llama(",\"bos_token_id\":1"), 4, 8f)) {
            Generator g = new Generator(lm, null);
            assertArrayEquals(g.generate(new int[] {1}, SamplingOptions.greedy(6)).get(0),
                    g.generate(new int[0], SamplingOptions.greedy(6)).get(0));
        }
    }

    /** Text in, text out, through the built-in tokenizer's ChatML template. */
    @Test
    void textGenerationAppliesTheChatTemplate() throws Exception {
        Path dir = TinyTokenizer.writeTo(tmp.resolve("tok"));
        try (TextTokenizer tok = TextTokenizer.load(dir, null);
                CausalLM lm = TinyModels.init(TinyModels.parse("{\"model_type\":\"llama\",\"vocab_size\":794,"
                        + "\"hidden_size\":16,\"intermediate_size\":32,\"num_hidden_layers\":1,\"num_attention_heads\":2}"), 1, 8f)) {
            Generator g = new Generator(lm, tok);
            assertTrue(g.stopIds().contains(tok.eosId()));
            int[] chat = g.encodePrompt("Hi there", true);
            assertEquals("<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n", tok.decode(chat, false));
            assertArrayEquals(tok.encode("Hi there"), g.encodePrompt("Hi there", false));
            List<String> out = g.generate("Hi there", new SamplingOptions(8, 1.0, 1.0, 0, 1, 2), true);
            assertEquals(2, out.size());
            List<int[]> ids = g.generate(chat, new SamplingOptions(8, 1.0, 1.0, 0, 1, 2));
            for (int i = 0; i < 2; i++) {
                assertEquals(tok.decode(ids.get(i), true), out.get(i));
            }
            assertNotEquals(out.get(0), "", "a random model says something");
        }
    }

    @Test
    void optionsAreValidatedWithTheFlagName() {
        assertTrue(assertThrows(Align4jException.class, () -> new SamplingOptions(5, -1, 1, 0, 0, 1))
                .getMessage().contains("--temperature"));
        assertTrue(assertThrows(Align4jException.class, () -> new SamplingOptions(5, 1, 0, 0, 0, 1))
                .getMessage().contains("--top-p"));
        assertTrue(assertThrows(Align4jException.class, () -> new SamplingOptions(5, 1, 1, -2, 0, 1))
                .getMessage().contains("--top-k"));
        assertTrue(assertThrows(Align4jException.class, () -> new SamplingOptions(5, 1, 1, 0, 0, 0))
                .getMessage().contains("--num-samples"));
        assertTrue(SamplingOptions.greedy(3).isGreedy());
    }
}
