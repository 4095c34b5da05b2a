package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * Not a unit test: a measurement, skipped unless {@code DROPOUT_BENCH=on}:
 * <pre>
 *   DROPOUT_BENCH=on mvn -B -q -o test -Dtest=DropoutMaskBench
 * </pre>
 * The dropout masks of one LoRA step of bench-medium (8 layers; 8 pairs × (64 + 64) = 2,048 tokens; per layer the
 * inputs of q/k/v, o and gate/up, 512 wide, and of down, 1,408 wide: 48 M values a step), rate 0.05. Prints, as
 * medians of 15 alternating rounds in milliseconds a step: the draws as {@link Adapters#maskBytes} makes them (eight
 * values a long) and as the previous definition did (one 16-bit draw a value, four a long; its sizes here are multiples of 8), and the whole forward
 * dropout ({@link Adapters#dropout}: draws into the tensor, x times the 0/1 bytes) on 2 threads, and the same with
 * the mask drawn into a Java buffer and copied into libtorch (as before, and as on a GPU).
 */
@EnabledIfEnvironmentVariable(named = "DROPOUT_BENCH", matches = "on")
class DropoutMaskBench {
    private static final long GAMMA = 0x9e3779b97f4a7c15L;

    /**
     * The definition before, as it ran (eight bytes written at once): value i kept when 16-bit draw i ≥ threshold,
     * four draws a SplittableRandom long, low bits first.
     */
    private static void sixteenBitDraws(ByteBuffer bytes, int n, long seed, int threshold) {
        long state = seed;
        long t = threshold - 1L;
        for (int i = 0; i + 8 <= n; i += 8) {
            state += GAMMA;
            long r1 = mix64(state);
            state += GAMMA;
            long r2 = mix64(state);
            bytes.putLong(i, keep4(r1, t) | keep4(r2, t) << 32);
        }
    }

    private static long keep4(long r, long t) {
        return (t - (r & 0xffff)) >>> 63 | ((t - ((r >>> 16) & 0xffff)) >>> 63) << 8
                | ((t - ((r >>> 32) & 0xffff)) >>> 63) << 16 | ((t - (r >>> 48)) >>> 63) << 24;
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    @Test
    void masksOfOneStep() {
        int tokens = 2048;
        int[] widths = {512, 512, 512, 1408};
        int layers = 8;
        int threshold = (int) Math.round(0.05 * 65536);
        ByteBuffer b = ByteBuffer.allocateDirect(tokens * 1408).order(ByteOrder.LITTLE_ENDIAN);
        int rounds = 15;
        double[] now = new double[rounds];
        double[] before = new double[rounds];
        double[] whole = new double[rounds];
        double[] copied = new double[rounds];
        Adapters adapters = new Adapters(LoraConfig.defaults());
        adapters.key(3);
        try (NDManager m = NDManager.newBaseManager()) {
            ai.djl.pytorch.jni.JniUtils.setNumThreads(2);
            NDArray[] inputs = Arrays.stream(widths).mapToObj(w -> m.randomNormal(new Shape(tokens, w))).toArray(NDArray[]::new);
            adapters.pass = new Pass(m, 1, 1, 0, null, null, true, 1, DataType.FLOAT32);
            for (int r = -3; r < rounds; r++) {
                long t0 = System.nanoTime();
                for (int l = 0; l < layers; l++) {
                    for (int w : widths) {
                        Adapters.maskBytes(b, tokens * w, l * 31L + w, threshold);
                    }
                }
                long t1 = System.nanoTime();
                for (int l = 0; l < layers; l++) {
                    for (int w : widths) {
                        sixteenBitDraws(b, tokens * w, l * 31L + w, threshold);
                    }
                }
                long t2 = System.nanoTime();
                for (int l = 0; l < layers; l++) {
                    for (int i = 0; i < widths.length; i++) {
                        adapters.dropout(inputs[i], l * 4 + i).close();
                    }
                }
                long t3 = System.nanoTime();
                for (int l = 0; l < layers; l++) {
                    for (int i = 0; i < widths.length; i++) {
                        NDArray x = inputs[i];
                        try (NDArray bits = adapters.mask(m, x.getShape(), (int) x.size(), l * 4L + i, threshold, false)) {
                            x.mul(bits).close();
                        }
                    }
                }
                long t4 = System.nanoTime();
                if (r >= 0) {
                    copied[r] = (t4 - t3) / 1e6;
                    now[r] = (t1 - t0) / 1e6;
                    before[r] = (t2 - t1) / 1e6;
                    whole[r] = (t3 - t2) / 1e6;
                }
            }
        }
        System.out.printf("dropout masks of one bench-medium LoRA step (48 M values, rate 0.05), medians of %d rounds:%n"
                + "  draws, eight values a long: %.1f ms%n  draws, one 16-bit draw a value (before): %.1f ms%n"
                + "  forward dropout (draws into the tensor, x times the 0/1 bytes): %.1f ms%n"
                + "  the same with the mask drawn into a buffer and copied: %.1f ms%n",
                rounds, median(now), median(before), median(whole), median(copied));
    }
}
