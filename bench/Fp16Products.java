// One float16 weight times float32 activations on the CPU, the two ways align4j can run it (HalfProducts):
// widened (the weight converted to float32, a float32 GEMM) and in float16 (the activations converted, a float16
// GEMM, the product widened back); also the two GEMMs alone. Medians of 7 after 2 warm-ups, in ms.
//   java -cp target/align4j.jar bench/Fp16Products.java [ROWS IN OUT]...   (default: 256 1024 1024  2048 512 1408  4 512 1408)
import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.function.Supplier;

public class Fp16Products {
    public static void main(String[] args) {
        System.setProperty("OPT_OUT_TRACKING", "true"); // DJL must not call home
        String[] a = args.length > 0 ? args : new String[] {"256", "1024", "1024", "2048", "512", "1408", "4", "512", "1408"};
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            for (int i = 0; i + 2 < a.length; i += 3) {
                long rows = Long.parseLong(a[i]), in = Long.parseLong(a[i + 1]), out = Long.parseLong(a[i + 2]);
                NDArray x = m.randomUniform(-1f, 1f, new Shape(rows, in));
                NDArray w32 = m.randomUniform(-0.05f, 0.05f, new Shape(out, in));
                NDArray w16 = w32.toType(DataType.FLOAT16, false);
                NDArray x16 = x.toType(DataType.FLOAT16, false);
                double widened = median(m, () -> x.matMul(w16.toType(DataType.FLOAT32, false).transpose()));
                double half = median(m, () -> x.toType(DataType.FLOAT16, false).matMul(w16.transpose()).toType(DataType.FLOAT32, false));
                double gemm32 = median(m, () -> x.matMul(w32.transpose()));
                double gemm16 = median(m, () -> x16.matMul(w16.transpose()));
                System.out.printf("%5d x %5d . %5d x %5d: widened %8.2f ms, float16 %8.2f ms (GEMM alone: float32 %8.2f, float16 %8.2f)%n",
                        rows, in, in, out, widened, half, gemm32, gemm16);
            }
        }
    }

    private static double median(NDManager m, Supplier<NDArray> product) {
        double[] t = new double[7];
        for (int r = -2; r < 7; r++) {
            try (NDManager s = m.newSubManager()) {
                long t0 = System.nanoTime();
                NDArray y = product.get();
                y.getFloat(0, 0);
                long t1 = System.nanoTime();
                y.tempAttach(s);
                if (r >= 0) {
                    t[r] = (t1 - t0) / 1e6;
                }
            }
        }
        Arrays.sort(t);
        return t[3];
    }
}
