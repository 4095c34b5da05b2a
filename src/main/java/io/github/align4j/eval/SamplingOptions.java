package io.github.align4j.eval;

import io.github.align4j.Align4jException;

/**
 * How {@link Generator} picks tokens.
 *
 * <p>Temperature 0 is greedy decoding (argmax; ties go to the lowest id). Otherwise the logits are
 * divided by the temperature, cut to the {@code topK} most likely tokens (0 = no cut), cut to the
 * smallest set whose probability reaches {@code topP} (1 = no cut), and a token is drawn from the
 * renormalised probabilities with a {@link java.util.Random} seeded by {@code seed}, so the same
 * options give the same samples on every run and device.
 *
 * @param maxNewTokens the most tokens generated per completion (EOS excluded), ≥ 0
 * @param temperature ≥ 0; 0 means greedy
 * @param topP nucleus threshold in (0, 1]
 * @param topK keep the k most likely tokens; 0 keeps all
 * @param seed seed of the sampler
 * @param numSamples completions per prompt, ≥ 1
 */
public record SamplingOptions(int maxNewTokens, double temperature, double topP, int topK, long seed, int numSamples) {
    public SamplingOptions {
        if (maxNewTokens < 0) {
            throw new Align4jException("max new tokens must be ≥ 0 (--max-new-tokens), got " + maxNewTokens);
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new Align4jException("temperature must be a finite number ≥ 0 (--temperature; 0 = greedy), got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new Align4jException("top-p must be in (0, 1] (--top-p; 1 = off), got " + topP);
        }
        if (topK < 0) {
            throw new Align4jException("top-k must be ≥ 0 (--top-k; 0 = off), got " + topK);
        }
        if (numSamples < 1) {
            throw new Align4jException("the number of samples must be ≥ 1 (--num-samples), got " + numSamples);
        }
    }

    /** Greedy decoding of one completion (temperature 0). */
    public static SamplingOptions greedy(int maxNewTokens) {
        return new SamplingOptions(maxNewTokens, 0.0, 1.0, 0, 0L, 1);
    }

    /** Sampling at a temperature with no top-k/top-p cut, one sample, seed 0. */
    public static SamplingOptions sampling(int maxNewTokens, double temperature) {
        return new SamplingOptions(maxNewTokens, temperature, 1.0, 0, 0L, 1);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    public SamplingOptions withSeed(long s) {
        return new SamplingOptions(maxNewTokens, temperature, topP, topK, s, numSamples);
    }

    public SamplingOptions withNumSamples(int n) {
        return new SamplingOptions(maxNewTokens, temperature, topP, topK, seed, n);
    }
}
