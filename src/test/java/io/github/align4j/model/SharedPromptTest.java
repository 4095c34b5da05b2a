package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Scalars;
import io.github.align4j.model.internal.PromptSharing;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A pair's shared prompt run once ({@code [prompt | chosen | rejected]} in one row, the rejected tokens masked
 * from the chosen ones) against one row a sequence: the same log-probs and the same gradient for every weight
 * to float32 rounding, for each family's attention (grouped heads, GPT-2's learned positions, a sliding window
 * shorter than the rows, Qwen2's biases), under recomputation, through the fused kernel, with LoRA adapters;
 * and the layout itself: which tokens go where, who sees whom.
 */
class SharedPromptTest {
    static {
        Offline.ensure();
    }

    private static final String LLAMA = "{\"model_type\":\"llama\",\"vocab_size\":60,\"hidden_size\":64,\"intermediate_size\":96,"
            + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"tie_word_embeddings\":false}";

    @Test
    void llamaWithGroupedHeads() {
        assertSameBothWays(config(LLAMA), false, false, null);
    }

    @Test
    void gpt2LearnedPositions() {
        assertSameBothWays(config("{\"model_type\":\"gpt2\",\"vocab_size\":60,\"n_embd\":64,\"n_layer\":2,\"n_head\":4,"
                + "\"n_positions\":24}"), false, false, null);
    }

    /** A window of 4 positions: the rejected tokens' window reaches back into the prompt by position, not by column. */
    @Test
    void slidingWindowShorterThanTheRows() {
        assertSameBothWays(config("{\"model_type\":\"mistral\",\"vocab_size\":60,\"hidden_size\":64,"
                + "\"intermediate_size\":96,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":1,"
                + "\"sliding_window\":4,\"tie_word_embeddings\":false}"), false, false, null);
    }

    @Test
    void qwen2WithBiases() {
        assertSameBothWays(config("{\"model_type\":\"qwen2\",\"vocab_size\":60,\"hidden_size\":64,\"intermediate_size\":96,"
                + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"tie_word_embeddings\":true}"),
                false, false, null);
    }

    @Test
    void underRecomputation() {
        assertSameBothWays(config(LLAMA), true, false, null);
    }

    @Test
    void throughTheFusedKernel() {
        assertSameBothWays(config(LLAMA), false, true, null);
    }

    /** LoRA adapters on every projection, dropout 0 (dropout draws its masks by the pass's shape). */
    @Test
    void withLoraAdapters() {
        assertSameBothWays(config(LLAMA), false, false,
                LoraConfig.defaults().withR(4).withDropout(0).withTargetModules(List.of("all-linear")));
    }

    /** Where each sequence's tokens go, and the mask: rejected tokens see the prompt and themselves, never the chosen ones. */
    @Test
    void layoutAndMask() {
        int[][] seqs = {{5, 6, 7, 8, 9}, {1, 2, 3}, {5, 6, 7, 10}, {4, 2, 3}};
        int[] starts = {3, 1, 3, 1}; // pair 0 shares [5 6 7]; pair 1's prompts differ ([1] vs [4])
        ScoreLayout l = ScoreLayout.of(config(LLAMA), seqs, starts, PromptSharing.Mode.AUTO, false);
        if (l.packing == null) {
            throw new AssertionError("expected the pair with a shared prompt to be packed");
        }
        assertEquals(3, l.rows); // [5 6 7 8 9 10], [1 2 3], [4 2 3]
        assertEquals(6, l.length);
        assertArrayEquals(new long[] {5, 6, 7, 8, 9, 10, 1, 2, 3, 0, 0, 0, 4, 2, 3, 0, 0, 0}, l.ids);
        assertEquals(5, l.at(2, 3)); // the rejected completion's token 3 follows the chosen completion
        assertEquals(2, l.at(2, 2)); // its prompt is the chosen row's
        assertEquals(6 + 2, l.at(1, 2));
        assertEquals(12 + 1, l.at(3, 1));
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            float[] mask = l.packing.mask(m, 0, ai.djl.ndarray.types.DataType.FLOAT32).toFloatArray();
            boolean[][] row0 = new boolean[6][6];
            for (int q = 0; q < 6; q++) {
                for (int k = 0; k < 6; k++) {
                    row0[q][k] = mask[q * 6 + k] == 0f;
                }
            }
            assertTrue(row0[5][0] && row0[5][2] && row0[5][5], "the rejected token sees the prompt and itself");
            assertTrue(!row0[5][3] && !row0[5][4], "the rejected token does not see the chosen tokens");
            assertTrue(row0[4][3] && !row0[3][4], "causal within the chosen completion");
            float[] window = l.packing.mask(m, 2, ai.djl.ndarray.types.DataType.FLOAT32).toFloatArray();
            assertEquals(0f, window[5 * 6 + 2]); // rejected at position 3 sees the prompt's position 2
            assertEquals(Float.NEGATIVE_INFINITY, window[5 * 6 + 1]); // but not position 1: 3 − 1 = 2 is outside the window
        }
        assertNull(ScoreLayout.of(config(LLAMA), seqs, starts, PromptSharing.Mode.OFF, false).packing, "off: one row a sequence");
    }

    /** Rows without a prompt or with different ones: nothing to pack; an odd count packs all but the last. */
    @Test
    void nothingToShareStaysUnpacked() {
        assertNull(ScoreLayout.of(config(LLAMA), new int[][] {{1, 2}, {1, 3}}, new int[] {0, 0}, PromptSharing.Mode.ON, false).packing);
        ScoreLayout odd = ScoreLayout.of(config(LLAMA), new int[][] {{1, 2}, {1, 3}, {1, 4}}, new int[] {1, 1, 1},
                PromptSharing.Mode.ON, false); // an odd count: 0 with 1, the last alone
        assertEquals(2, odd.rows);
        assertArrayEquals(new long[] {1, 2, 3, 1, 4, 0}, odd.ids);
        assertNull(ScoreLayout.of(config(LLAMA), new int[][] {{1, 2}, {2, 3}}, new int[] {1, 1}, PromptSharing.Mode.ON, false).packing);
    }

    /**
     * The choice follows the work: a 512-wide model shares 64-token prompts of 64-token completions (the layers'
     * products dominate), but not a 64-token prompt of two 1,024-token completions on the CPU, where the fused
     * causal kernel computes half the square of two 1,088-token rows and the packed row's whole 2,112² square
     * costs more than the prompt saves; 512 + 512 is about even (measured 0.97–1.04× by SharedPromptBench); a
     * 4096-wide (Mistral-7B-shaped) model shares there, its projections dominating.
     */
    @Test
    void sharesWhereItIsLessWork() {
        ModelConfig medium = config("{\"model_type\":\"llama\",\"vocab_size\":32000,\"hidden_size\":512,"
                + "\"intermediate_size\":1408,\"num_hidden_layers\":8,\"num_attention_heads\":8,\"num_key_value_heads\":4,"
                + "\"max_position_embeddings\":4096}");
        ModelConfig mistral = config("{\"model_type\":\"mistral\",\"vocab_size\":32000,\"hidden_size\":4096,"
                + "\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
                + "\"max_position_embeddings\":32768}");
        assertTrue(PromptSharing.cheaper(medium, 8, 64 + 128, 16, 128, false));
        assertTrue(!PromptSharing.cheaper(medium, 1, 64 + 2048, 2, 64 + 1024, false));
        assertTrue(PromptSharing.cheaper(medium, 1, 512 + 1024, 2, 1024, false), "about even: 0.98 by the count");
        assertTrue(PromptSharing.cheaper(mistral, 1, 512 + 1024, 2, 1024, false));
        assertTrue(PromptSharing.cheaper(mistral, 1, 512 + 1024, 2, 1024, true));
    }

    @Test
    void aBadSettingIsRefusedByName() {
        String old = System.getProperty(PromptSharing.PROPERTY);
        System.setProperty(PromptSharing.PROPERTY, "always");
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, PromptSharing::mode);
            assertTrue(e.getMessage().contains(PromptSharing.PROPERTY) && e.getMessage().contains("always"), e.getMessage());
        } finally {
            restore(PromptSharing.PROPERTY, old);
        }
    }

    private record Run(float[] logps, Map<String, float[]> grads) {}

    private static void assertSameBothWays(ModelConfig c, boolean recompute, boolean fused, LoraConfig lora) {
        Run separate = run(c, "off", recompute, fused, lora);
        long before = ScoreLayout.PACKED.get();
        Run shared = run(c, "on", recompute, fused, lora); // wherever the prompt is the same, whatever the work
        assertEquals(before + 1, ScoreLayout.PACKED.get(), "the shared-prompt pass was packed");
        assertArrayEquals(separate.logps(), shared.logps(), 1e-4f);
        GradientsClose.assertClose(separate.grads(), shared.grads(), 2e-5);
    }

    /**
     * Three pairs (chosen rows, then rejected rows) of ragged lengths, two sharing their prompts and one whose
     * prompts differ; a loss that weighs every sequence differently; one backward.
     */
    private static Run run(ModelConfig c, String sharing, boolean recompute, boolean fused, LoraConfig lora) {
        String oldSharing = System.getProperty(PromptSharing.PROPERTY);
        String oldAttention = System.getProperty(FusedAttention.PROPERTY);
        System.setProperty(PromptSharing.PROPERTY, sharing);
        System.setProperty(FusedAttention.PROPERTY, fused ? "fused" : "materialized");
        CausalLM.Options options = (lora == null ? CausalLM.Options.training() : CausalLM.Options.inference())
                .withDevice(Device.cpu());
        try (CausalLM lm = CausalLM.init(c, 7, options)) {
            if (lora != null) {
                lm.addAdapters(lora, 5);
                randomizeAdapters(lm);
            }
            lm.gradientCheckpointing(recompute);
            Random r = new Random(11);
            int[] prompts = {5, 2, 4};
            int[] chosen = {6, 9, 3};
            int[] rejected = {8, 4, 7};
            int[][] seqs = new int[6][];
            int[] starts = new int[6];
            for (int i = 0; i < 3; i++) {
                int[] prompt = r.ints(prompts[i], 0, 60).toArray();
                seqs[i] = concat(prompt, r.ints(chosen[i], 0, 60).toArray());
                int[] other = i == 2 ? r.ints(prompts[i], 0, 60).toArray() : prompt;
                seqs[3 + i] = concat(other, r.ints(rejected[i], 0, 60).toArray());
                starts[i] = prompts[i];
                starts[3 + i] = prompts[i];
            }
            try (NDManager m = lm.manager().newSubManager();
                    GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray logps = SequenceScorer.score(lm, m, seqs, starts).logps();
                NDArray weights = m.create(new float[] {1f, -0.5f, 2f, -1.5f, 0.75f, 3f});
                NDArray loss = logps.mul(weights).sum();
                lm.backward(loss);
                Map<String, float[]> grads = new LinkedHashMap<>();
                for (Map.Entry<String, NDArray> e : lm.trainableParameters().entrySet()) {
                    try (NDArray g = e.getValue().getGradient()) {
                        grads.put(e.getKey(), g.toFloatArray());
                    }
                }
                return new Run(logps.toFloatArray(), grads);
            }
        } finally {
            restore(PromptSharing.PROPERTY, oldSharing);
            restore(FusedAttention.PROPERTY, oldAttention);
        }
    }

    /** B starts at zero under PEFT's init; random B makes the adapters change the hidden states (and A get a gradient). */
    private static void randomizeAdapters(CausalLM lm) {
        Random r = new Random(3);
        for (Map.Entry<String, NDArray> e : lm.trainableParameters().entrySet()) {
            NDArray w = e.getValue();
            float[] v = new float[Math.toIntExact(w.size())];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (0.2 * r.nextGaussian());
            }
            w.set(v);
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static void restore(String property, String old) {
        if (old == null) {
            System.clearProperty(property);
        } else {
            System.setProperty(property, old);
        }
    }

    private static ModelConfig config(String json) {
        try {
            return ModelConfig.parse((ObjectNode) new ObjectMapper().readTree(json), "test");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
