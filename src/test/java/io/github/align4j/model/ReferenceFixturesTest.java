package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.internal.Offline;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Logits and completion log-probs of every supported architecture against an independent float64
 * PyTorch reference (src/test/python/make_fixtures.py), to 1e-4 relative, padding included.
 */
class ReferenceFixturesTest {
    static {
        Offline.ensure();
    }

    static Path fixture(String name) {
        return Path.of("src/test/resources/fixtures", name);
    }

    static void close(double expected, double actual, String what) {
        double tol = 1e-4 * Math.max(1.0, Math.abs(expected));
        assertTrue(Math.abs(expected - actual) <= tol, what + ": expected " + expected + " got " + actual);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "llama-bf16", "llama-f16", "llama3-rope", "mistral", "qwen2", "gpt2", "gpt2-prefixed"})
    void logitsAndLogpsMatchReference(String name) throws Exception {
        JsonNode exp = new ObjectMapper().readTree(fixture(name).resolve("expected.json").toFile());
        int b = exp.get("input_ids").size();
        int t = exp.get("input_ids").get(0).size();
        long[] ids = new long[b * t];
        int[][] rows = new int[b][];
        int[] starts = new int[b];
        for (int i = 0; i < b; i++) {
            int n = exp.get("lengths").get(i).asInt();
            rows[i] = new int[n];
            for (int j = 0; j < t; j++) {
                ids[i * t + j] = exp.get("input_ids").get(i).get(j).asLong();
                if (j < n) {
                    rows[i][j] = (int) ids[i * t + j];
                }
            }
            starts[i] = exp.get("prompt_lengths").get(i).asInt();
        }
        for (boolean trainable : new boolean[] {false, true}) {
            CausalLM.Options o = new CausalLM.Options(Device.cpu(), trainable, ai.djl.ndarray.types.DataType.FLOAT32);
            try (CausalLM lm = CausalLM.load(fixture(name), o); NDManager m = lm.manager().newSubManager()) {
                float[] logits = lm.logits(m.create(ids, new Shape(b, t))).toFloatArray();
                int v = lm.config().vocabSize();
                for (int i = 0; i < b; i++) {
                    for (int j = 0; j < rows[i].length; j++) {
                        for (int k = 0; k < v; k++) {
                            close(exp.get("logits").get(i).get(j).get(k).asDouble(), logits[(i * t + j) * v + k],
                                    name + " logits[" + i + "," + j + "," + k + "]");
                        }
                    }
                }
                SequenceScorer.Scores s = SequenceScorer.score(lm, m, rows, starts);
                for (int i = 0; i < b; i++) {
                    close(exp.get("logps").get(i).asDouble(), s.logps().getFloat(i), name + " logps[" + i + "]");
                    assertEquals(exp.get("tokens").get(i).asInt(), (int) s.tokens().getFloat(i));
                }
            }
        }
    }
}
