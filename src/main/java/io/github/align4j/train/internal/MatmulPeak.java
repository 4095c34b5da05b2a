package io.github.align4j.train.internal;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.model.ModelConfig;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The float32 matrix-multiply rate of this machine at a model's shapes, measured in the running
 * process with the engine's threads: [N, in] · [in, out] for each distinct projection of a decoder
 * layer (N = positions of a micro-batch) and the head's [M, E] · [E, V]. Each shape runs once to
 * warm up, then at least 3 times and until about 0.1 s has passed; its best time gives its GFLOP/s,
 * and the peak is the best shape's. A step's achieved GFLOP/s over this peak is the share of what
 * the machine's matmul can do that the step reaches.
 *
 * @param gflops the best shape's rate
 * @param shape that shape, "N×in·in×out"
 */
record MatmulPeak(double gflops, String shape) {

    static MatmulPeak measure(ModelConfig c, Device device, long positions, long scored) {
        Set<List<Long>> shapes = new LinkedHashSet<>();
        for (MemoryModel.Module m : MemoryModel.modules(c, 0)) {
            shapes.add(List.of(positions, m.in(), m.out()));
        }
        shapes.add(List.of(Math.max(1, scored), (long) c.hiddenSize(), (long) c.vocabSize()));
        double best = 0;
        String bestShape = "";
        try (NDManager manager = NDManager.newBaseManager(device)) {
            for (List<Long> s : shapes) {
                double g = rate(manager, s.get(0), s.get(1), s.get(2));
                if (g > best) {
                    best = g;
                    bestShape = String.format(Locale.ROOT, "%d×%d·%d×%d", s.get(0), s.get(1), s.get(1), s.get(2));
                }
            }
        }
        return new MatmulPeak(best, bestShape);
    }

    /** GFLOP/s of the best of several [m, k] · [k, n] products. */
    private static double rate(NDManager manager, long m, long k, long n) {
        try (NDArray a = manager.full(new Shape(m, k), 0.5f, DataType.FLOAT32);
                NDArray b = manager.full(new Shape(k, n), 0.25f, DataType.FLOAT32)) {
            a.matMul(b).close(); // warm-up
            double bestSeconds = Double.MAX_VALUE;
            long start = System.nanoTime();
            for (int i = 0; i < 3 || (System.nanoTime() - start < 100_000_000L && i < 50); i++) {
                long t = System.nanoTime();
                try (NDArray p = a.matMul(b); NDArray one = p.get(0, 0)) {
                    one.getFloat(); // waits for the product on a GPU (the CPU is eager)
                }
                bestSeconds = Math.min(bestSeconds, (System.nanoTime() - t) / 1e9);
            }
            return 2.0 * m * k * n / bestSeconds / 1e9;
        }
    }
}
