package io.github.align4j.model;

import ai.djl.ndarray.NDManager;
import java.util.List;
import java.util.Set;

/**
 * Llama and the models that share its decoder: RMSNorm, rotary positions, grouped-query attention
 * (biases on q/k/v for Qwen2, a sliding window for Mistral) and a SwiGLU MLP.
 */
final class LlamaFamily implements ModelFamily {
    @Override
    public Set<String> modelTypes() {
        return Set.of("llama", "mistral", "qwen2");
    }

    @Override
    public List<String> defaultLoraTargets() {
        return List.of("q_proj", "v_proj");
    }

    @Override
    public Decoder build(ModelConfig c, Layer.Registry r, NDManager manager) {
        return new LlamaDecoder(c, r, manager);
    }
}
