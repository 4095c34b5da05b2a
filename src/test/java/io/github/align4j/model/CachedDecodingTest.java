package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.internal.Offline;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Masks and rotary tables are slices of one growing table per model, at an offset when a KV cache is
 * extended. Extending the cache piece by piece (a prefix, single tokens, chunks of two) must give the
 * logits of one full pass at every position: rotary offsets, causal and sliding-window masks
 * (Mistral's window of 4 bites at 9 tokens), grouped heads and GPT-2's learned positions included.
 */
class CachedDecodingTest {
    static {
        Offline.ensure();
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "mistral", "qwen2", "gpt2"})
    void cachedPiecesMatchOneFullPass(String name) {
        long[] ids = {1, 17, 5, 42, 9, 3, 30, 11, 7};
        int[][] pieces = {{0, 3}, {3, 4}, {4, 6}, {6, 7}, {7, 9}};
        CausalLM.Options o = new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32);
        try (CausalLM lm = CausalLM.load(Path.of("src/test/resources/fixtures", name), o);
                NDManager m = lm.manager().newSubManager()) {
            int vocab = lm.config().vocabSize();
            NDArray all = m.create(ids, new Shape(1, ids.length));
            float[] full = lm.logits(all).toFloatArray(); // [1, T, V]
            KvCache cache = lm.newCache();
            for (int[] piece : pieces) {
                NDArray part = all.get(new NDIndex(":, {}:{}", piece[0], piece[1]));
                float[] got = lm.head(lm.hidden(part, cache)).toFloatArray();
                for (int t = piece[0]; t < piece[1]; t++) {
                    for (int v = 0; v < vocab; v++) {
                        float want = full[t * vocab + v];
                        assertEquals(want, got[(t - piece[0]) * vocab + v], 1e-4f * Math.max(1f, Math.abs(want)),
                                name + ": position " + t + ", token " + v);
                    }
                }
            }
            assertEquals(ids.length, cache.length());
        }
    }
}
