package io.github.align4j.eval;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import java.util.Map;

/** Tiny random models for generation tests, with weights scaled up so that logits are far from ties. */
final class TinyModels {
    static final ObjectMapper JSON = new ObjectMapper();

    private TinyModels() {}

    static ModelConfig llama(String extra) throws Exception {
        return parse("{\"model_type\":\"llama\",\"vocab_size\":40,\"hidden_size\":32,\"intermediate_size\":48,"
                + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"rms_norm_eps\":1e-5,"
                + "\"rope_theta\":100.0" + extra + "}");
    }

    /** Mistral with a 4-token sliding window: the cached path must apply it with the right offset. */
    static ModelConfig mistral() throws Exception {
        return parse("{\"model_type\":\"mistral\",\"vocab_size\":40,\"hidden_size\":32,\"intermediate_size\":48,"
                + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":1,\"rms_norm_eps\":1e-5,"
                + "\"sliding_window\":4}");
    }

    static ModelConfig gpt2() throws Exception {
        return parse("{\"model_type\":\"gpt2\",\"vocab_size\":40,\"n_embd\":32,\"n_layer\":2,\"n_head\":4,\"n_positions\":40}");
    }

    static ModelConfig parse(String json) throws Exception {
        return ModelConfig.parse((ObjectNode) JSON.readTree(json), "test");
    }

    /** A frozen CPU model with normal(0, 0.02·scale) weights. */
    static CausalLM init(ModelConfig c, long seed, float scale) {
        CausalLM lm = CausalLM.init(c, seed, CausalLM.Options.inference().withDevice(Device.cpu()));
        for (Map.Entry<String, NDArray> e : lm.parameters().entrySet()) {
            String n = e.getKey();
            if (!(n.contains("norm") || n.contains("ln_") || n.endsWith(".bias"))) {
                e.getValue().muli(scale);
            }
        }
        return lm;
    }
}
