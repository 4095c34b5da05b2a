package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Every supported model_type belongs to exactly one family, and each family names its tensors. */
class ModelFamilyTest {
    @Test
    void familiesCoverTheSupportedTypesOnce() {
        Set<String> seen = new HashSet<>();
        for (ModelFamily f : ModelFamily.ALL) {
            for (String type : f.modelTypes()) {
                assertEquals(true, seen.add(type), type + " is claimed by two families");
            }
        }
        assertEquals(ModelConfig.SUPPORTED, seen);
    }

    @Test
    void eachConfigGetsItsFamilysDecoder() throws Exception {
        try (CausalLM llama = CausalLM.init(CausalLMTest.tinyLlama(true), 1, CausalLM.Options.inference());
                CausalLM gpt2 = CausalLM.init(CausalLMTest.tinyGpt2(), 1, CausalLM.Options.inference())) {
            assertInstanceOf(LlamaDecoder.class, llama.block());
            assertInstanceOf(Gpt2Decoder.class, gpt2.block());
            assertEquals(List.of("model.embed_tokens.weight", "model.layers.0.input_layernorm.weight"),
                    llama.parameters().keySet().stream().limit(2).toList());
            assertEquals(List.of("transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight"),
                    gpt2.parameters().keySet().stream().limit(3).toList());
        }
    }

    @Test
    void gpt2TensorsMayComeWithoutTheTransformerPrefix() {
        ModelFamily f = new Gpt2Family();
        assertEquals(List.of("transformer.h.0.attn.c_attn.weight", "h.0.attn.c_attn.weight"),
                f.checkpointNames("transformer.h.0.attn.c_attn.weight"));
        assertEquals(List.of("lm_head.weight"), f.checkpointNames("lm_head.weight"));
        assertEquals(List.of("model.norm.weight"), new LlamaFamily().checkpointNames("model.norm.weight"));
    }
}
