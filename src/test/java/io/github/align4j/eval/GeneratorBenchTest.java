package io.github.align4j.eval;

import ai.djl.Device;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * How much the KV cache saves: greedy decoding with the cache against recomputing the whole prefix
 * every step. Run with {@code -Dalign4j.bench=true -Dtest=GeneratorBenchTest}; it prints and
 * asserts nothing (timings depend on the machine). On a shared 2-core CPU with
 * {@code OMP_NUM_THREADS=1}, a 4-layer, 256-wide Llama with an 8k vocabulary took 8.4 ms per step
 * with the cache against 68 ms recomputing (prompt 32, 64 new tokens, 4 samples) and 15.5 against
 * 145 ms (prompt 64, 128 new tokens): the saving grows with the sequence. With 2 intra-op threads on
 * a loaded machine the numbers swing by an order of magnitude; pin threads when timing.
 */
@EnabledIfSystemProperty(named = "align4j.bench", matches = "true")
class GeneratorBenchTest {
    @Test
    void cacheAgainstRecompute() throws Exception {
        String size = System.getProperty("align4j.bench.size", "small");
        String json = size.equals("tiny")
                ? "{\"model_type\":\"llama\",\"vocab_size\":40,\"hidden_size\":32,\"intermediate_size\":48,"
                        + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2}"
                : "{\"model_type\":\"llama\",\"vocab_size\":8000,\"hidden_size\":256,\"intermediate_size\":688,"
                        + "\"num_hidden_layers\":4,\"num_attention_heads\":8,\"num_key_value_heads\":4}";
        ModelConfig c = TinyModels.parse(json);
        int prompt = Integer.getInteger("align4j.bench.prompt", 64);
        int newTokens = Integer.getInteger("align4j.bench.new", 128);
        int samples = Integer.getInteger("align4j.bench.samples", 4);
        String dev = System.getProperty("align4j.bench.device", "cpu");
        Device d = dev.equals("gpu") ? Device.gpu() : Device.cpu();
        try (CausalLM lm = CausalLM.init(c, 1, CausalLM.Options.inference().withDevice(d))) {
            Generator g = new Generator(lm, null);
            int[] p = new java.util.Random(1).ints(prompt, 0, c.vocabSize()).toArray();
            SamplingOptions o = new SamplingOptions(newTokens, 1.0, 1.0, 0, 1, samples);
            for (boolean cache : new boolean[] {true, false}) {
                g.run(p, o.withNumSamples(1).withSeed(0), cache); // warm-up
                double best = Double.MAX_VALUE;
                for (int rep = 0; rep < 3; rep++) {
                    long t0 = System.nanoTime();
                    g.run(p, o, cache);
                    best = Math.min(best, (System.nanoTime() - t0) / 1e9);
                }
                System.out.printf(Locale.ROOT, "%s %s: prompt %d, %d new tokens x %d samples: %.3f s (%.1f ms/step)%n",
                        size, cache ? "KV cache " : "recompute", prompt, newTokens, samples, best, 1000 * best / newTokens);
            }
        }
    }
}
