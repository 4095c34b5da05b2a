package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.internal.Offline;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * LoRA adds no memory to a training step beyond what its backward needs (docs/performance.md, "Memory
 * planner"): an adapted projection's update is freed once it is added into the output, and dropout
 * masks leave no Java or direct buffer behind them.
 */
class AdapterMemoryTest {
    static {
        Offline.ensure();
    }

    static CausalLM model(double dropout) throws Exception {
        ModelConfig c = ModelConfig.parse((ObjectNode) new ObjectMapper().readTree("{\"model_type\":\"llama\",\"vocab_size\":50,"
                + "\"hidden_size\":16,\"intermediate_size\":32,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                + "\"num_key_value_heads\":2}"), "test");
        CausalLM lm = CausalLM.init(c, 1, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32));
        return lm.addAdapters(new LoraConfig(4, 8, dropout, List.of("all-linear"), false), 7);
    }

    /** Arrays a training forward leaves open in its manager, adapters on or off. */
    static int openAfterForward(CausalLM lm, boolean adapters) {
        try (NDManager mgr = lm.manager().newSubManager();
                CausalLM.AdaptersOff off = adapters ? () -> { } : lm.adaptersDisabled();
                GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray ids = mgr.create(new long[] {1, 2, 3, 4, 5, 6, 7, 8}, new Shape(2, 4));
            NDArray h = lm.hidden(ids, null);
            int open = ((BaseNDManager) mgr).getManagedArrays().size();
            if (adapters) {
                gc.backward(h.sum());
            }
            return open;
        }
    }

    @Test
    void adaptedProjectionsLeaveNoArrayOpen() throws Exception {
        try (CausalLM lm = model(0)) {
            assertEquals(14, lm.adaptedModules().size());
            assertEquals(openAfterForward(lm, false), openAfterForward(lm, true),
                    "the same arrays stay open with the adapters on as off (each update is closed once added)");
        }
    }

    @Test
    void dropoutMasksLeaveNoDirectBuffers() throws Exception {
        BufferPoolMXBean direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(b -> b.getName().equals("direct")).findFirst().orElseThrow();
        try (CausalLM lm = model(0.5)) {
            lm.setDropoutKey(3);
            openAfterForward(lm, true); // the first pass may grow the one reusable buffer
            long before = direct.getMemoryUsed();
            for (int i = 0; i < 20; i++) {
                openAfterForward(lm, true);
            }
            long grown = direct.getMemoryUsed() - before;
            // 20 passes × 14 masks of 2·4·(16 or 32) floats would be 20 KiB and more of direct buffers
            assertTrue(grown < 4096, "direct buffers grew by " + grown + " bytes over 20 passes with dropout");
        }
    }
}
