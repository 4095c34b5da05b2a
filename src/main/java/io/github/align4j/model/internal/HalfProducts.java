package io.github.align4j.model.internal;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Locale;

/**
 * How a float16 frozen weight multiplies float32 activations on the CPU when no gradient is recorded
 * (a LoRA run's adapters-off reference, scoring, generation): in float16 (the activations rounded to
 * float16, libtorch's float16 GEMM accumulating in float32, the product widened back) where this
 * machine's float16 GEMM is fast (AVX512-FP16 / AMX-FP16 through oneDNN), else the weight widened to
 * float32 first, as passes with a gradient always do (their backward stays float32), and as products
 * with more activation values than weight values do (a training batch: converting the activations
 * would cost more than widening the weight, measured on an Intel Xeon with AVX512-FP16 at 2048 tokens ×
 * 512·512×1408: the float16 path no faster). The machine's part is a measurement, not a list of CPU
 * names: a 256×1024·1024×1024 GEMM timed in float16 and in float32 (about 0.05 s), float16 usable when
 * it takes at most 0.9× the time (on the Intel Xeon of docs/performance.md the two are within ±10% of
 * each other, so the margin keeps a noisy first measurement from choosing float16). It is made once per JVM and kept per
 * machine in {@code ~/.cache/align4j/half-products.txt} (keyed by CPU model and flags, cores, libtorch's
 * version and {@code ATEN_CPU_CAPABILITY}), so a machine does not flip between runs. The system property
 * {@code align4j.half_products} or the environment variable {@code ALIGN4J_HALF_PRODUCTS} ({@code float16} or
 * {@code float32}) overrides it; the test suite pins {@code float32}.
 */
public final class HalfProducts {
    /** The system property that overrides the measurement: {@code float16}, {@code float32} or {@code auto}. */
    public static final String PROPERTY = "align4j.half_products";
    /** The same override as an environment variable (child processes inherit it); the property wins. */
    public static final String ENV = "ALIGN4J_HALF_PRODUCTS";
    private static final double MARGIN = 0.9;
    private static volatile Decision decision;

    private HalfProducts() {}

    /**
     * The choice and where it came from.
     *
     * @param half whether no-grad products of float16 weights run in float16
     * @param why e.g. "measured 1.92 vs 1.74 ms" (float16 vs float32 GEMM) or "align4j.half_products=float32"
     */
    public record Decision(boolean half, String why) {
        @Override
        public String toString() {
            return (half ? "float16 GEMM where that converts fewer values" : "widened to float32") + " (" + why + ")";
        }
    }

    /**
     * Whether {@code x}·{@code w}ᵀ should run in float16 here: a float16 weight, float32 activations on the CPU, no
     * gradient, this machine's float16 GEMM faster than its float32 one, and fewer values to convert that way:
     * the activations in and out (rows × (in + out)) rather than the weight (in × out). Decoding a token or scoring
     * a few short rows converts little; a training batch of thousands of tokens keeps widening the weight.
     */
    public static boolean inHalf(NDArray w, NDArray x) {
        if (w.getDataType() != DataType.FLOAT16 || x.getDataType() != DataType.FLOAT32 || x.getDevice().isGpu()) {
            return false;
        }
        long size = w.size();
        long[] xs = x.getShape().getShape();
        long in = xs[xs.length - 1];
        long out = size / Math.max(1, in);
        long rows = x.size() / Math.max(1, in);
        return rows * (in + out) < size && !JniUtils.isGradMode() && decision().half();
    }

    /** This machine's choice, measured (or read from the cache) on first use. */
    public static Decision decision() {
        Decision d = decision;
        if (d == null) {
            synchronized (HalfProducts.class) {
                d = decision;
                if (d == null) {
                    d = decide();
                    decision = d;
                }
            }
        }
        return d;
    }

    /** Sets the choice for this JVM (tests and benchmarks of both paths); null measures again on next use. */
    public static void set(Decision d) {
        decision = d;
    }

    private static Decision decide() {
        String env = System.getenv(ENV);
        String forced = System.getProperty(PROPERTY, env == null ? "auto" : env).trim().toLowerCase(Locale.ROOT);
        if (forced.equals("float16") || forced.equals("float32")) {
            return new Decision(forced.equals("float16"), (System.getProperty(PROPERTY) != null ? PROPERTY : ENV) + "=" + forced);
        }
        String key = fingerprint();
        Path cache = cacheFile();
        Decision cached = read(cache, key);
        if (cached != null) {
            return cached;
        }
        double[] ms = measure();
        Decision d = new Decision(ms[0] <= MARGIN * ms[1],
                String.format(Locale.ROOT, "measured %.2f vs %.2f ms", ms[0], ms[1]));
        write(cache, key, d);
        return d;
    }

    /** Medians of {float16 GEMM, float32 GEMM} in ms (operands already in each type), 7 alternating rounds after 2 warm-ups. */
    static double[] measure() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x = m.randomUniform(-1f, 1f, new Shape(256, 1024));
            NDArray w32 = m.randomUniform(-0.05f, 0.05f, new Shape(1024, 1024));
            NDArray x16 = x.toType(DataType.FLOAT16, false);
            NDArray w = w32.toType(DataType.FLOAT16, false);
            double[] half = new double[7];
            double[] wide = new double[7];
            for (int r = -2; r < 7; r++) {
                long t0 = System.nanoTime();
                try (NDManager s = m.newSubManager()) {
                    NDArray y = x16.matMul(w.transpose());
                    y.tempAttach(s);
                    y.getFloat(0, 0); // wait for it
                }
                long t1 = System.nanoTime();
                try (NDManager s = m.newSubManager()) {
                    NDArray y = x.matMul(w32.transpose());
                    y.tempAttach(s);
                    y.getFloat(0, 0);
                }
                long t2 = System.nanoTime();
                if (r >= 0) {
                    half[r] = (t1 - t0) / 1e6;
                    wide[r] = (t2 - t1) / 1e6;
                }
            }
            Arrays.sort(half);
            Arrays.sort(wide);
            return new double[] {half[3], wide[3]};
        }
    }

    /** What the measurement depends on: the CPU, the cores, libtorch and its kernel choice. */
    static String fingerprint() {
        String cpu = "";
        try {
            Path info = Path.of("/proc/cpuinfo");
            if (Files.isReadable(info)) {
                String model = "";
                String flags = "";
                for (String line : Files.readAllLines(info, StandardCharsets.ISO_8859_1)) {
                    if (model.isEmpty() && line.startsWith("model name")) {
                        model = line.substring(line.indexOf(':') + 1).trim();
                    } else if (flags.isEmpty() && line.startsWith("flags")) {
                        flags = line.substring(line.indexOf(':') + 1).trim();
                    }
                    if (!model.isEmpty() && !flags.isEmpty()) {
                        break;
                    }
                }
                cpu = model + "/" + Integer.toHexString(flags.hashCode());
            }
        } catch (IOException | RuntimeException e) {
            cpu = "";
        }
        String capability = System.getenv("ATEN_CPU_CAPABILITY");
        String key = System.getProperty("os.arch") + "|" + cpu + "|" + Runtime.getRuntime().availableProcessors() + "|"
                + ai.djl.engine.Engine.getInstance().getVersion() + "|" + (capability == null ? "" : capability) + "|margin " + MARGIN;
        return key.replaceAll("[\\s=\\p{Cntrl}]+", "_");
    }

    private static Path cacheFile() {
        String home = System.getProperty("user.home");
        return home == null || home.isBlank() ? null : Path.of(home, ".cache", "align4j", "half-products.txt");
    }

    /** The cached choice for this machine, or null (no file, no line for it, or anything unexpected). */
    static Decision read(Path file, String key) {
        try {
            if (file == null || !Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) || Files.size(file) > 65_536) {
                return null;
            }
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String[] kv = line.split("=", 2);
                if (kv.length == 2 && kv[0].equals(key) && kv[1].matches("(float16|float32) [0-9.]{1,12} [0-9.]{1,12}")) {
                    String[] v = kv[1].split(" ");
                    return new Decision(v[0].equals("float16"), "measured " + v[1] + " vs " + v[2] + " ms, cached");
                }
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
        return null;
    }

    /** Adds this machine's line (through a temporary file moved into place); a failure only means measuring again. */
    static void write(Path file, String key, Decision d) {
        if (file == null) {
            return;
        }
        try {
            Files.createDirectories(file.getParent());
            StringBuilder sb = new StringBuilder();
            if (Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) && Files.size(file) <= 65_536) {
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    if (!line.startsWith(key + "=") && !line.isBlank()) {
                        sb.append(line).append('\n');
                    }
                }
            }
            String[] ms = d.why().replace("measured ", "").replace(" ms", "").split(" vs ");
            sb.append(key).append('=').append(d.half() ? "float16" : "float32").append(' ').append(ms[0]).append(' ')
                    .append(ms[1]).append('\n');
            Path tmp = Files.createTempFile(file.getParent(), "half-products", ".tmp");
            try {
                Files.writeString(tmp, sb, StandardCharsets.UTF_8);
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException | RuntimeException e) {
            // no cache: the next JVM measures again
        }
    }
}
