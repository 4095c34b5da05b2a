package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.github.align4j.internal.Offline;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * The decoder and scorer keep nothing in Java-owned native memory that backward needs. DJL's create(javaArray)
 * and its scalar mul/div/pow alias direct buffers that the garbage collector frees once their NDArray is closed,
 * though autograd may still hold them (token ids, gather indices, the segment matrix, norm exponents, rotary
 * slices). Here every such reference is dropped, the GC runs and freed native memory is refilled with junk
 * between forward and backward; gradients must not change. Before the fix they did (a demo run in CI died with
 * "index 139895540549520 is out of bounds").
 */
class NativeLifetimeTest {
    static {
        Offline.ensure();
    }

    private static Map<String, float[]> gradients(ModelConfig c, boolean churn) throws Exception {
        try (CausalLM lm = CausalLM.init(c, 7, CausalLM.Options.training().withDevice(Device.cpu()))) {
            int[][] rows = CausalLMTest.randomRows(new Random(3), new int[] {11, 6, 9});
            int[] starts = {4, 2, 5};
            try (NDManager m = lm.manager().newSubManager();
                    GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray loss = SequenceScorer.score(lm, m, rows, starts).logps().sum().neg();
                if (churn) {
                    NativeChurn.run();
                }
                gc.backward(loss);
            }
            Map<String, float[]> out = new TreeMap<>();
            for (Map.Entry<String, NDArray> e : lm.parameters().entrySet()) {
                out.put(e.getKey(), e.getValue().getGradient().toFloatArray());
            }
            return out;
        }
    }

    @Test
    void scorerGradientsSurviveGarbageCollection() throws Exception {
        for (ModelConfig c : new ModelConfig[] {CausalLMTest.tinyLlama(false), CausalLMTest.tinyGpt2()}) {
            Map<String, float[]> calm = gradients(c, false);
            Map<String, float[]> churned = gradients(c, true);
            assertEquals(calm.keySet(), churned.keySet());
            assertTrue(calm.size() > 5);
            double total = 0;
            for (Map.Entry<String, float[]> e : calm.entrySet()) {
                assertArrayEquals(e.getValue(), churned.get(e.getKey()), 0f, c.modelType() + " " + e.getKey());
                for (float v : e.getValue()) {
                    total += Math.abs(v);
                }
            }
            assertTrue(total > 1e-3, "gradients are not all zero");
        }
    }
}
