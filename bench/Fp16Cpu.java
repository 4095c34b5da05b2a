// float16 vs float32 on the CPU through DJL: matmul GFLOP/s and the cost of widening a float16 weight.
//   java -cp target/align4j.jar bench/Fp16Cpu.java
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

public class Fp16Cpu {
    public static void main(String[] args) {
        System.setProperty("OPT_OUT_TRACKING", "true"); // DJL must not call home
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            for (int n : new int[] {256, 512, 1024}) {
                NDArray a = m.randomNormal(new Shape(n, n));
                NDArray b = m.randomNormal(new Shape(n, n));
                NDArray ah = a.toType(DataType.FLOAT16, false);
                NDArray bh = b.toType(DataType.FLOAT16, false);
                double f32 = gflops(a, b, n);
                double f16 = gflops(ah, bh, n);
                System.out.printf("matmul %4d x %4d: float32 %6.1f GFLOP/s, float16 %6.2f GFLOP/s%n", n, n, f32, f16);
            }
            for (long[] s : new long[][] {{2048, 2048}, {5632, 2048}, {14336, 4096}}) {
                NDArray w = m.randomNormal(new Shape(s)).toType(DataType.FLOAT16, false);
                double best = Double.MAX_VALUE;
                for (int i = 0; i < 5; i++) {
                    long t0 = System.nanoTime();
                    NDArray wide = w.toType(DataType.FLOAT32, false);
                    wide.getFloat(0, 0);
                    best = Math.min(best, (System.nanoTime() - t0) / 1e6);
                    wide.close();
                }
                System.out.printf("float16 -> float32 of a %d x %d weight: %.1f ms (%.2f ns a value)%n", s[0], s[1], best,
                        best * 1e6 / (s[0] * s[1]));
            }
        }
    }

    static double gflops(NDArray a, NDArray b, int n) {
        a.matMul(b).close(); // warm up
        int reps = 0;
        long t0 = System.nanoTime();
        while (System.nanoTime() - t0 < 1_000_000_000L) {
            NDArray c = a.matMul(b);
            c.getFloat(0, 0);
            c.close();
            reps++;
        }
        return 2.0 * n * n * n * reps / ((System.nanoTime() - t0) / 1e9) / 1e9;
    }
}
