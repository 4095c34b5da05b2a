package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Scalars;
import io.github.align4j.model.internal.FusedAttentionSwitch;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Fused causal attention (libtorch's scaled_dot_product_attention through a TorchScript module written in
 * Java) against the materialized softmax(q·kᵀ + mask)·v: the kernel against a hand-written loop on a
 * few numbers, which passes the default setting fuses, then whole models (Llama with grouped-query heads, GPT-2, a sliding window shorter than
 * the sequence) scored and trained both ways: the same log-probs and the same gradients for every
 * weight to float32 rounding.
 */
class FusedAttentionTest {
    static {
        Offline.ensure();
    }

    /** The kernel alone against attention written out with loops, grouped heads and the causal mask included. */
    @Test
    void kernelMatchesAttentionWrittenOut() {
        int b = 2, kv = 2, rep = 3, t = 5, d = 4;
        Random r = new Random(1);
        float[] q = gaussian(r, b * kv * rep * t * d);
        float[] k = gaussian(r, b * kv * t * d);
        float[] v = gaussian(r, b * kv * t * d);
        float[] got;
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray o = FusedAttention.attend(m.create(q, new Shape(b, kv * rep, t, d)), m.create(k, new Shape(b, kv, t, d)),
                    m.create(v, new Shape(b, kv, t, d)));
            assertNotNull(o, "libtorch compiled the fused attention module");
            assertEquals(new Shape(b, kv * rep, t, d), o.getShape());
            got = o.toFloatArray();
        }
        for (int bi = 0; bi < b; bi++) {
            for (int h = 0; h < kv * rep; h++) {
                int g = h / rep; // the kv head query head h reads
                for (int i = 0; i < t; i++) {
                    double[] w = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) { // causal: keys up to the query's position
                        double s = 0;
                        for (int c = 0; c < d; c++) {
                            s += q[(((bi * kv * rep + h) * t + i) * d) + c] * k[(((bi * kv + g) * t + j) * d) + c];
                        }
                        w[j] = s;
                        max = Math.max(max, s);
                    }
                    double z = 0;
                    for (int j = 0; j <= i; j++) {
                        w[j] = Math.exp(w[j] - max);
                        z += w[j];
                    }
                    for (int c = 0; c < d; c++) {
                        double o = 0;
                        for (int j = 0; j <= i; j++) {
                            o += w[j] / z * v[(((bi * kv + g) * t + j) * d) + c];
                        }
                        assertEquals(o, got[(((bi * kv * rep + h) * t + i) * d) + c], 1e-5, "b" + bi + " h" + h + " i" + i);
                    }
                }
            }
        }
    }

    @Test
    void llamaWithGroupedHeadsScoresAndTrainsAsMaterialized() throws Exception {
        assertSameBothWays(() -> config("{\"model_type\":\"llama\",\"vocab_size\":60,\"hidden_size\":32,\"intermediate_size\":40,"
                + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"tie_word_embeddings\":false}"), true);
    }

    /** The demo's shape (heads of 16, no grouping, tied embeddings) at two intra-op threads, as the command line runs. */
    @Test
    void demoShapedModelAtTwoThreadsScoresAndTrainsAsMaterialized() {
        int before = ai.djl.pytorch.jni.JniUtils.getNumThreads();
        ai.djl.pytorch.jni.JniUtils.setNumThreads(2);
        try {
            assertSameBothWays(() -> config("{\"model_type\":\"llama\",\"vocab_size\":300,\"hidden_size\":64,"
                    + "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":4,"
                    + "\"tie_word_embeddings\":true}"), true);
        } finally {
            ai.djl.pytorch.jni.JniUtils.setNumThreads(before);
        }
    }

    @Test
    void gpt2ScoresAndTrainsAsMaterialized() throws Exception {
        assertSameBothWays(() -> config("{\"model_type\":\"gpt2\",\"vocab_size\":60,\"n_embd\":32,\"n_layer\":2,\"n_head\":4,"
                + "\"n_positions\":32}"), true);
    }

    /** A sliding window shorter than the rows keeps the materialized path (its mask is not plain causal): still the same. */
    @Test
    void slidingWindowShorterThanTheRowsScoresAsMaterialized() throws Exception {
        assertSameBothWays(() -> config("{\"model_type\":\"mistral\",\"vocab_size\":60,\"hidden_size\":32,"
                + "\"intermediate_size\":40,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":1,"
                + "\"sliding_window\":4,\"tie_word_embeddings\":false}"), false);
    }

    /**
     * auto (the default): on the CPU, materialized for short rows, fused from CPU_MIN_LENGTH tokens (where it was
     * measured faster), always fused on a GPU; the two explicit settings override it.
     */
    @Test
    void autoFusesLongRowsOnTheCpuAndEveryPassOnAGpu() {
        String old = System.getProperty(FusedAttention.PROPERTY);
        try {
            System.clearProperty(FusedAttention.PROPERTY);
            if (System.getenv(FusedAttentionSwitch.ENV) == null) {
                assertEquals(FusedAttentionSwitch.Mode.AUTO, FusedAttentionSwitch.mode());
            }
            System.setProperty(FusedAttention.PROPERTY, "auto");
            assertEquals(false, FusedAttentionSwitch.fusedFor(FusedAttentionSwitch.CPU_MIN_LENGTH - 1, false));
            assertEquals(true, FusedAttentionSwitch.fusedFor(FusedAttentionSwitch.CPU_MIN_LENGTH, false));
            assertEquals(true, FusedAttentionSwitch.fusedFor(8, true));
            System.setProperty(FusedAttention.PROPERTY, "materialized");
            assertEquals(false, FusedAttentionSwitch.fusedFor(4096, true));
            System.setProperty(FusedAttention.PROPERTY, " Fused ");
            assertEquals(true, FusedAttentionSwitch.fusedFor(8, false));
            // and a model follows it: rows of 8 tokens stay materialized under auto, rows of CPU_MIN_LENGTH run fused
            ModelConfig c = config("{\"model_type\":\"llama\",\"vocab_size\":60,\"hidden_size\":16,\"intermediate_size\":24,"
                    + "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1,\"max_position_embeddings\":512}");
            System.setProperty(FusedAttention.PROPERTY, "auto");
            try (CausalLM lm = CausalLM.init(c, 7, CausalLM.Options.inference().withDevice(Device.cpu()));
                    NDManager m = lm.manager().newSubManager()) {
                long before = FusedAttention.CALLS.get();
                SequenceScorer.score(lm, m, CausalLMTest.randomRows(new Random(1), new int[] {8}), new int[] {3});
                assertEquals(before, FusedAttention.CALLS.get(), "8 tokens: materialized");
                int n = FusedAttentionSwitch.CPU_MIN_LENGTH;
                SequenceScorer.score(lm, m, CausalLMTest.randomRows(new Random(1), new int[] {n}), new int[] {3});
                assertEquals(before + 1, FusedAttention.CALLS.get(), n + " tokens: fused");
            }
        } finally {
            restore(old);
        }
    }

    @Test
    void aBadOverrideIsRefusedByName() {
        String old = System.getProperty(FusedAttention.PROPERTY);
        System.setProperty(FusedAttention.PROPERTY, "flash");
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FusedAttentionSwitch.fusedFor(512, false));
            assertTrue(e.getMessage().contains("align4j.attention") && e.getMessage().contains("flash"), e.getMessage());
        } finally {
            restore(old);
        }
    }

    private record Run(float[] logps, Map<String, float[]> grads) {}

    private static void assertSameBothWays(Supplier<ModelConfig> config, boolean fusable) {
        long before = FusedAttention.CALLS.get();
        Run materialized = run(config.get(), "materialized");
        assertEquals(before, FusedAttention.CALLS.get(), "materialized: no fused call");
        Run fused = run(config.get(), "fused");
        assertEquals(fusable, FusedAttention.CALLS.get() > before, "fused calls");
        assertArrayEquals(materialized.logps(), fused.logps(), 2e-5f);
        GradientsClose.assertClose(materialized.grads(), fused.grads(), 1e-5);
    }

    /** Right-padded rows of three lengths, log-probs of their last tokens, one backward; the weights' gradients. */
    private static Run run(ModelConfig c, String attention) {
        String old = System.getProperty(FusedAttention.PROPERTY);
        System.setProperty(FusedAttention.PROPERTY, attention);
        try (CausalLM lm = CausalLM.init(c, 7, CausalLM.Options.training().withDevice(Device.cpu()));
                NDManager m = lm.manager().newSubManager();
                GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            int[][] rows = CausalLMTest.randomRows(new Random(3), new int[] {11, 6, 9});
            NDArray logps = SequenceScorer.score(lm, m, rows, new int[] {4, 2, 5}).logps();
            NDArray loss = Scalars.times(logps, -1).sum();
            lm.backward(loss);
            Map<String, float[]> grads = new LinkedHashMap<>();
            for (Map.Entry<String, NDArray> e : lm.trainableParameters().entrySet()) {
                try (NDArray g = e.getValue().getGradient()) {
                    grads.put(e.getKey(), g.toFloatArray());
                }
            }
            return new Run(logps.toFloatArray(), grads);
        } finally {
            restore(old);
        }
    }

    private static void restore(String old) {
        if (old == null) {
            System.clearProperty(FusedAttention.PROPERTY);
        } else {
            System.setProperty(FusedAttention.PROPERTY, old);
        }
    }

    private static ModelConfig config(String json) {
        try {
            return ModelConfig.parse((ObjectNode) new ObjectMapper().readTree(json), "test");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static float[] gaussian(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }
}
