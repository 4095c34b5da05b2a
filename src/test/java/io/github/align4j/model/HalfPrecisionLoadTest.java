package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading to FLOAT16 keeps only the fp16 weights alive, not the fp32 arrays they were made from. */
class HalfPrecisionLoadTest {
    @TempDir
    Path tmp;

    @Test
    void fp16LoadHoldsOneArrayPerWeight() {
        Path dir = tmp.resolve("m");
        CausalLM.init("llama", Map.of("hidden_size", 32, "num_hidden_layers", 2), null, dir, 1);
        for (boolean trainable : new boolean[] {false, true}) {
            try (CausalLM lm = CausalLM.load(dir, new CausalLM.Options(Device.cpu(), trainable, DataType.FLOAT16));
                    CausalLM fp32 = CausalLM.load(dir, new CausalLM.Options(Device.cpu(), trainable, DataType.FLOAT32))) {
                Map<String, NDArray> p = lm.parameters();
                assertEquals(2 + 2 * 9 + 1, p.size(), "embed, head, final norm and 9 tensors per layer");
                for (NDArray a : p.values()) {
                    assertEquals(DataType.FLOAT16, a.getDataType());
                }
                assertEquals(p.size(), lm.liveArrays(), "trainable=" + trainable + ": no fp32 copy left behind");
                assertEquals(fp32.liveArrays(), lm.liveArrays());
            }
        }
    }
}
