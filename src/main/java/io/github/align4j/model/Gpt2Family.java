package io.github.align4j.model;

import ai.djl.ndarray.NDManager;
import java.util.List;
import java.util.Set;

/** GPT-2: LayerNorm, learned positions, Conv1D projections, gelu_new and a head tied to the embedding. */
final class Gpt2Family implements ModelFamily {
    private static final String PREFIX = "transformer.";

    @Override
    public Set<String> modelTypes() {
        return Set.of("gpt2");
    }

    @Override
    public List<String> defaultLoraTargets() {
        return List.of("c_attn");
    }

    @Override
    public Decoder build(ModelConfig c, Layer.Registry r, NDManager manager) {
        return new Gpt2Decoder(c, r, manager);
    }

    /** transformers saves {@code transformer.h.0.…}; the hub's original GPT-2 files carry no prefix. */
    @Override
    public List<String> checkpointNames(String name) {
        return name.startsWith(PREFIX) ? List.of(name, name.substring(PREFIX.length())) : List.of(name);
    }
}
