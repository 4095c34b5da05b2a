package io.github.align4j.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * Not a unit test: a measurement, skipped unless {@code RECOMPUTE_BENCH} is {@code on} or {@code off}.
 * Peak RSS is per process, so run it once per setting:
 * <pre>
 *   RECOMPUTE_BENCH=off mvn -B -q -o test -Dtest=RecomputeMemoryBench
 *   RECOMPUTE_BENCH=on  mvn -B -q -o test -Dtest=RecomputeMemoryBench
 * </pre>
 * A random Llama (hidden 256, 12 layers, 8 heads, 4 KV heads), 4 rows × 512 tokens with the last
 * 256 scored, full fine-tuning: four forward + backward steps; prints each step's process CPU
 * seconds and wall seconds, and the process's peak RSS.
 */
@EnabledIfEnvironmentVariable(named = "RECOMPUTE_BENCH", matches = "on|off")
class RecomputeMemoryBench {
    private static long statusKb(String key) throws Exception {
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (l.startsWith(key + ":")) {
                return Long.parseLong(l.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    private static double cpuSeconds() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime() / 1e9;
    }

    @Test
    void measure() throws Exception {
        boolean on = "on".equals(System.getenv("RECOMPUTE_BENCH"));
        ModelConfig c = ModelConfig.parse((ObjectNode) new ObjectMapper().readTree("{\"model_type\":\"llama\","
                + "\"vocab_size\":794,\"hidden_size\":256,\"intermediate_size\":688,\"num_hidden_layers\":12,"
                + "\"num_attention_heads\":8,\"num_key_value_heads\":4}"), "bench");
        try (CausalLM lm = CausalLM.init(c, 1, CausalLM.Options.training().withDevice(Device.cpu())).gradientCheckpointing(on)) {
            Random r = new Random(1);
            int[][] rows = new int[4][];
            for (int i = 0; i < rows.length; i++) {
                rows[i] = r.ints(512, 3, 794).toArray();
            }
            int[] starts = {256, 256, 256, 256};
            for (int step = 0; step < 4; step++) {
                long t0 = System.nanoTime();
                double c0 = cpuSeconds();
                try (NDManager m = lm.manager().newSubManager(); NDScope s = new NDScope();
                        GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    lm.backward(SequenceScorer.score(lm, m, rows, starts).logps().sum().neg());
                }
                for (NDArray p : lm.parameters().values()) {
                    try (NDArray g = p.getGradient()) {
                        g.subi(g);
                    }
                }
                System.out.printf("recompute=%s step %d: cpu %.2f s, wall %.2f s, rss %d MiB%n", on ? "on" : "off", step,
                        cpuSeconds() - c0, (System.nanoTime() - t0) / 1e9, statusKb("VmRSS") / 1024);
            }
            System.out.printf("recompute=%s peak RSS %d MiB%n", on ? "on" : "off", statusKb("VmHWM") / 1024);
        }
    }
}
