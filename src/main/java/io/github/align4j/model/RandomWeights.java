package io.github.align4j.model;

import io.github.align4j.model.internal.SequenceLimits;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import io.github.align4j.Align4jException;
import java.nio.FloatBuffer;
import java.util.Map;
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
 * {@link #model} builds the in-memory model (its size checked before anything is allocated).
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

    /** {@link CausalLM#init(ModelConfig, long, CausalLM.Options)}: a float32 model of {@code config} drawn from {@code seed}. */
    static CausalLM model(ModelConfig config, long seed, CausalLM.Options options) {
        ModelParts parts = new ModelParts(config, options.withDataType(DataType.FLOAT32), SafeTensors.DType.F32, null);
        try {
            checkSize(parts.shapes);
        } catch (RuntimeException e) {
            parts.close();
            throw e;
        }
        fill(parts.params, parts.shapes, parts.manager, seed, options.trainable());
        return new CausalLM(parts);
    }

    /** Refuses, before allocating, a config whose tensors could not be held or saved. */
    private static void checkSize(Map<String, Shape> shapes) {
        long total = 0;
        for (Map.Entry<String, Shape> e : shapes.entrySet()) {
            long n = e.getValue().size();
            if (n < 0 || n > Integer.MAX_VALUE / 4) {
                throw new Align4jException("config.json: tensor '" + e.getKey() + "' would have shape " + e.getValue()
                        + ", over 2 GiB as float32 (align4j's limit for one tensor); lower vocab_size or the hidden size");
            }
            total += n;
        }
        long available = SequenceLimits.availableBytes(ai.djl.Device.cpu());
        if (available >= 0 && total * 4 > available) {
            throw new Align4jException(String.format(java.util.Locale.ROOT, "config.json: the model would have %,d "
                    + "parameters (%.1f GiB as float32) but this machine has %.1f GiB available; make it smaller",
                    total, total * 4 / (double) (1L << 30), available / (double) (1L << 30)));
        }
    }

    /**
     * Sets every parameter of {@code params} to a new array of {@code manager} holding the draws of a
     * {@code RandomWeights(seed)}, in the parameters' order ({@link CausalLM#init(ModelConfig, long, CausalLM.Options)}).
     */
    private static void fill(Map<String, Parameter> params, Map<String, Shape> shapes, NDManager manager, long seed,
            boolean trainable) {
        RandomWeights draws = new RandomWeights(seed);
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            String name = e.getKey();
            Shape s = shapes.get(name);
            float[] v = new float[Math.toIntExact(s.size())];
            draws.fill(name, v.length, FloatBuffer.wrap(v));
            NDArray a = manager.create(v, s);
            a.setName(name);
            if (trainable) {
                a.setRequiresGradient(true);
            }
            e.getValue().setArray(a);
        }
    }
}
