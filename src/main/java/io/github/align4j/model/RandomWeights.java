package io.github.align4j.model;

import java.nio.FloatBuffer;
import java.util.Random;

/**
 * The values of a random model, as align4j has always drawn them: one {@code java.util.Random(seed)}
 * for the whole model, consumed tensor by tensor in the model's registration order; weights
 * normal(0, 0.02), norm weights 1, biases 0 (neither draws). The in-memory
 * {@link CausalLM#init(ModelConfig, long, CausalLM.Options)} and the streamed writer of
 * {@link CausalLM#init(String, java.util.Map, java.nio.file.Path, java.nio.file.Path, long)} both use
 * it, so a folder written by {@code align4j init --seed S} holds exactly the weights of
 * {@code CausalLM.init(config, S, ...)} (the demo's published results depend on these draws).
 * Sequential: about 22 ns a value here (a 7B model in a few minutes), streamed one tensor at a time.
 */
final class RandomWeights {
    private final Random rng;

    RandomWeights(long seed) {
        this.rng = new Random(seed);
    }

    /** Norm weights (and LayerNorm biases) by their Hugging Face names. */
    static boolean isNorm(String name) {
        return name.contains("norm") || name.contains("ln_");
    }

    /**
     * Fills {@code out[0, n)} (absolute puts) with the next tensor's values; call once per tensor, in the
     * model's tensor order.
     */
    void fill(String name, long n, FloatBuffer out) {
        int size = Math.toIntExact(n);
        if (name.endsWith(".bias") || isNorm(name)) {
            float v = name.endsWith(".bias") ? 0f : 1f;
            for (int i = 0; i < size; i++) {
                out.put(i, v);
            }
            return;
        }
        for (int i = 0; i < size; i++) {
            out.put(i, (float) (rng.nextGaussian() * 0.02));
        }
    }
}
