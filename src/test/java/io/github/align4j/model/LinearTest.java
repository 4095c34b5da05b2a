package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.internal.Offline;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Every projection of both families is a {@link Linear} listed by its Hugging Face module name (what LoRA's
 * target_modules name), with the stored layout of its weight, and computes x·Wᵀ + b (nn.Linear) or
 * x·W + b (Conv1D).
 */
class LinearTest {
    static {
        Offline.ensure();
    }

    static ModelConfig config(String json) throws Exception {
        return ModelConfig.parse((ObjectNode) new ObjectMapper().readTree(json), "test");
    }

    @Test
    void llamaProjectionsAreNamedLinearsWithOptionalBias() throws Exception {
        ModelConfig qwen = config("{\"model_type\":\"qwen2\",\"vocab_size\":50,\"hidden_size\":16,\"intermediate_size\":24,"
                + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2}");
        try (CausalLM lm = CausalLM.init(qwen, 1, CausalLM.Options.inference().withDevice(Device.cpu()))) {
            Map<String, Linear> l = lm.linears();
            assertEquals(14, l.size());
            assertEquals(List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
                    l.keySet().stream().filter(n -> n.startsWith("model.layers.1."))
                            .map(n -> n.substring(n.lastIndexOf('.') + 1)).toList());
            Linear k = l.get("model.layers.0.self_attn.k_proj");
            assertEquals(16, k.inFeatures());
            assertEquals(8, k.outFeatures()); // 2 KV heads of 4
            assertEquals(true, k.hasBias()); // qwen2: biases on q, k, v only
            assertEquals(false, l.get("model.layers.0.self_attn.o_proj").hasBias());
            assertEquals(false, k.fanInFanOut());
            assertEquals(new Shape(8, 16), k.weight().getArray().getShape());
            checkForward(lm, l);
        }
    }

    @Test
    void gpt2ProjectionsAreConv1dStoredInByOut() throws Exception {
        ModelConfig gpt2 = config("{\"model_type\":\"gpt2\",\"vocab_size\":50,\"n_embd\":16,\"n_layer\":2,\"n_head\":4,\"n_positions\":32}");
        try (CausalLM lm = CausalLM.init(gpt2, 1, CausalLM.Options.inference().withDevice(Device.cpu()))) {
            Map<String, Linear> l = lm.linears();
            assertEquals(List.of("transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_fc",
                    "transformer.h.0.mlp.c_proj"), l.keySet().stream().limit(4).toList());
            Linear fc = l.get("transformer.h.0.mlp.c_fc");
            assertEquals(true, fc.fanInFanOut());
            assertEquals(new Shape(16, 64), fc.weight().getArray().getShape());
            assertEquals(64, fc.outFeatures());
            checkForward(lm, l);
        }
    }

    /** Each projection against x·W (or x·Wᵀ) + b computed by hand in double. */
    private static void checkForward(CausalLM lm, Map<String, Linear> linears) {
        Random r = new Random(3);
        try (NDManager m = lm.manager().newSubManager()) {
            for (Linear lin : linears.values()) {
                int in = (int) lin.inFeatures();
                int out = (int) lin.outFeatures();
                float[] x = new float[2 * in];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) r.nextGaussian();
                }
                // give biases non-zero values so that a dropped bias shows
                String biasName = lin.name() + ".bias";
                NDArray bias = lm.parameters().get(biasName);
                if (bias != null) {
                    bias.addi(0.5f);
                }
                float[] w = lin.weight().getArray().toFloatArray();
                float[] b = bias == null ? new float[out] : bias.toFloatArray();
                float[] want = new float[2 * out];
                for (int row = 0; row < 2; row++) {
                    for (int o = 0; o < out; o++) {
                        double s = b[o];
                        for (int i = 0; i < in; i++) {
                            s += (double) x[row * in + i] * (lin.fanInFanOut() ? w[i * out + o] : w[o * in + i]);
                        }
                        want[row * out + o] = (float) s;
                    }
                }
                float[] got = lin.forward(m.create(x, new Shape(2, in))).toFloatArray();
                assertArrayEquals(want, got, 1e-5f, lin.name());
            }
        }
    }
}
