package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.internal.Offline;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CausalLMTest {
    static {
        Offline.ensure();
    }

    static ModelConfig tinyLlama(boolean tied) throws Exception {
        String json = "{\"model_type\":\"llama\",\"vocab_size\":50,\"hidden_size\":16,\"intermediate_size\":24,"
                + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"rms_norm_eps\":1e-5,"
                + "\"tie_word_embeddings\":" + tied + ",\"eos_token_id\":2}";
        return ModelConfig.parse((ObjectNode) new ObjectMapper().readTree(json), "test");
    }

    static ModelConfig tinyGpt2() throws Exception {
        String json = "{\"model_type\":\"gpt2\",\"vocab_size\":50,\"n_embd\":16,\"n_layer\":2,\"n_head\":4,\"n_positions\":32}";
        return ModelConfig.parse((ObjectNode) new ObjectMapper().readTree(json), "test");
    }

    static int[][] randomRows(Random r, int[] lengths) {
        int[][] rows = new int[lengths.length][];
        for (int i = 0; i < lengths.length; i++) {
            rows[i] = r.ints(lengths[i], 0, 50).toArray();
        }
        return rows;
    }

    /** The scorer's gathered log-probs equal log_softmax of the full logits, summed by hand in double. */
    @Test
    void scorerMatchesFullLogitsAndIsBatchIndependent() throws Exception {
        for (ModelConfig c : new ModelConfig[] {tinyLlama(false), tinyLlama(true), tinyGpt2()}) {
            try (CausalLM lm = CausalLM.init(c, 7, CausalLM.Options.inference().withDevice(Device.cpu()));
                    NDManager m = lm.manager().newSubManager()) {
                int[][] rows = randomRows(new Random(1), new int[] {9, 5, 12});
                int[] starts = {3, 2, 6};
                SequenceScorer.Scores batched = SequenceScorer.score(lm, m, rows, starts);
                float[] got = batched.logps().toFloatArray();
                for (int i = 0; i < rows.length; i++) {
                    long[] ids = java.util.Arrays.stream(rows[i]).asLongStream().toArray();
                    float[] logits = lm.logits(m.create(ids, new Shape(1, ids.length))).toFloatArray();
                    int v = c.vocabSize();
                    double sum = 0;
                    for (int t = starts[i]; t < ids.length; t++) {
                        double max = Double.NEGATIVE_INFINITY;
                        for (int k = 0; k < v; k++) {
                            max = Math.max(max, logits[(t - 1) * v + k]);
                        }
                        double z = 0;
                        for (int k = 0; k < v; k++) {
                            z += Math.exp(logits[(t - 1) * v + k] - max);
                        }
                        sum += logits[(t - 1) * v + (int) ids[t]] - max - Math.log(z);
                    }
                    assertEquals(sum, got[i], 1e-4 * Math.abs(sum), c.modelType() + " row " + i);
                    SequenceScorer.Scores alone = SequenceScorer.score(lm, m, new int[][] {rows[i]}, new int[] {starts[i]});
                    assertEquals(alone.logps().getFloat(0), got[i], 1e-5 * Math.abs(sum), "batch independence");
                    assertEquals(ids.length - starts[i], batched.tokens().getFloat(i));
                }
            }
        }
    }

    @Test
    void saveThenLoadIsBitExact(@TempDir Path dir) throws Exception {
        for (ModelConfig c : new ModelConfig[] {tinyLlama(false), tinyLlama(true), tinyGpt2()}) {
            Path out = dir.resolve(c.modelType() + c.tieWordEmbeddings());
            try (CausalLM lm = CausalLM.init(c, 3, CausalLM.Options.inference().withDevice(Device.cpu()))) {
                lm.save(out);
                assertTrue(Files.exists(out.resolve("config.json")));
                var perms = Files.getPosixFilePermissions(out.resolve("config.json"));
                assertTrue(perms.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ), "saved files are readable by others: " + perms);
                try (CausalLM back = CausalLM.load(out, CausalLM.Options.inference().withDevice(Device.cpu()))) {
                    Map<String, NDArray> a = lm.parameters();
                    Map<String, NDArray> b = back.parameters();
                    assertEquals(a.keySet(), b.keySet());
                    for (String k : a.keySet()) {
                        assertArrayEquals(a.get(k).toFloatArray(), b.get(k).toFloatArray(), 0f, k);
                    }
                    try (NDManager m = lm.manager().newSubManager()) {
                        NDArray ids = m.create(new long[] {1, 4, 9, 16, 25}, new Shape(1, 5));
                        assertArrayEquals(lm.logits(ids).toFloatArray(), back.logits(ids).toFloatArray(), 0f);
                    }
                }
                try (CausalLM trainable = CausalLM.load(out, CausalLM.Options.training().withDevice(Device.cpu()))) {
                    assertEquals(DataType.FLOAT32, trainable.parameters().values().iterator().next().getDataType());
                    assertTrue(trainable.parameters().values().iterator().next().hasGradient());
                }
            }
        }
    }
}
