package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * LoRA dropout's masks are made of the draws of {@code SplittableRandom} (so that resumed runs and
 * published results keep their masks, and the rate is exact to 1/65536), and the byte mask applied to x equals the float mask
 * x · (mask · 1/(1−rate)) of the earlier code bit for bit, values and gradient.
 */
class DropoutMaskTest {
    /**
     * The definition, one value at a time: value i's 16-bit draw is byte i mod 8 of the (i / 8)-th long of
     * {@code new SplittableRandom(seed)} (high byte) and of {@code new SplittableRandom(tieSeed(seed))} (low byte);
     * dropped below the threshold.
     */
    static byte[] reference(int n, long seed, int threshold) {
        byte[] out = new byte[n];
        SplittableRandom high = new SplittableRandom(seed);
        SplittableRandom low = new SplittableRandom(Adapters.tieSeed(seed));
        for (int i = 0; i < n; ) {
            long h = high.nextLong();
            long l = low.nextLong();
            for (int k = 0; k < 8 && i < n; k++, i++) {
                int draw = (int) ((h >>> (8 * k)) & 0xff) << 8 | (int) ((l >>> (8 * k)) & 0xff);
                out[i] = draw < threshold ? (byte) 0 : (byte) 1;
            }
        }
        return out;
    }

    @Test
    void maskBytesAreSplittableRandomsDraws() {
        for (int n : new int[] {0, 1, 3, 4, 5, 7, 8, 9, 17, 1001, 20_000}) {
            for (int threshold : new int[] {0, 1, 255, 256, 257, 3277, 3328, 32767, 32768, 32769, 33000, 65279, 65280,
                    65535, 65536}) {
                for (long seed : new long[] {0, 42, -7, Long.MIN_VALUE}) {
                    ByteBuffer b = ByteBuffer.allocateDirect(Math.max(n, 1)).order(ByteOrder.LITTLE_ENDIAN);
                    byte[] want = reference(n, seed, threshold);
                    Adapters.maskBytes(b, n, seed, threshold);
                    byte[] got = new byte[n];
                    b.get(0, got);
                    assertArrayEquals(want, got, "n " + n + " threshold " + threshold + " seed " + seed);
                }
            }
        }
        byte[] half = reference(100_000, 5, 32768);
        int kept = 0;
        for (byte x : half) {
            kept += x;
        }
        assertTrue(Math.abs(kept - 50_000) < 1_000, "half kept at rate 0.5: " + kept);
        int n = 1 << 20;
        ByteBuffer b = ByteBuffer.allocateDirect(n).order(ByteOrder.LITTLE_ENDIAN);
        Adapters.maskBytes(b, n, 9, (int) Math.round(0.05 * 65536));
        int dropped = 0;
        for (int i = 0; i < n; i++) {
            dropped += 1 - b.get(i);
        }
        // 0.05 · 2^20 = 52,429 expected, standard deviation 223
        assertTrue(Math.abs(dropped - 52_429) < 1_200, "rate 0.05 over 2^20 values: " + dropped);
    }

    /** On the CPU the mask is drawn straight into the tensor (DJL's view aliases it), the same bytes as the copy. */
    @Test
    void maskDrawnInPlaceEqualsTheCopiedMask() {
        assertTrue(Adapters.CpuView.ALIASES, "this DJL's direct view of a CPU tensor writes the tensor");
        Adapters a = new Adapters(LoraConfig.defaults());
        try (NDManager m = NDManager.newBaseManager()) {
            for (int n : new int[] {1, 7, 8, 13, 4096 + 5}) {
                ai.djl.ndarray.types.Shape shape = new ai.djl.ndarray.types.Shape(1, n);
                byte[] inPlace = a.mask(m, shape, n, 21, 3277, true).toByteArray();
                byte[] copied = a.mask(m, shape, n, 21, 3277, false).toByteArray();
                assertArrayEquals(reference(n, 21, 3277), inPlace, "n " + n);
                assertArrayEquals(inPlace, copied, "n " + n);
            }
        }
    }

    @Test
    void byteMaskEqualsTheFloatMaskBitForBit() {
        double rate = 0.05;
        Adapters a = new Adapters(LoraConfig.defaults().withDropout(rate));
        a.key(7);
        try (NDManager m = NDManager.newBaseManager()) {
            a.pass = new Pass(m, 1, 1, 0, null, null, true, 3, DataType.FLOAT32);
            NDArray x = m.randomNormal(new ai.djl.ndarray.types.Shape(6, 37)); // negatives too: x · 0 is −0
            NDArray w = m.randomNormal(new ai.djl.ndarray.types.Shape(6, 37));
            x.setRequiresGradient(true);
            float[] y;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray out = a.dropout(x, 2);
                y = out.toFloatArray();
                gc.backward(out.mul(w).sum());
            }
            float[] grad = x.getGradient().toFloatArray();
            byte[] bits = reference(6 * 37, Adapters.mix(Adapters.mix(7, 3), 2), (int) Math.round(rate * 65536));
            float scale = 1f; // inverted dropout's 1/(1−p) is folded into the adapter's scaling (Adapters.scale)
            assertEquals(a.scaling / (1 - rate), a.scale(true), 1e-15);
            assertEquals(a.scaling, a.scale(false), 0);
            float[] xs = x.toFloatArray();
            float[] ws = w.toFloatArray();
            int dropped = 0;
            for (int i = 0; i < xs.length; i++) {
                float mask = bits[i] * 1f * scale; // the kept values: x or ±0
                assertEquals(Float.floatToIntBits(xs[i] * mask), Float.floatToIntBits(y[i]), "value " + i);
                assertEquals(Float.floatToIntBits(ws[i] * mask), Float.floatToIntBits(grad[i]), "gradient " + i);
                dropped += 1 - bits[i];
            }
            assertTrue(dropped > 0, "some values dropped at rate 0.05 over 222 values");
        }
    }

    /**
     * The projections that read the same input in a pass share one dropped copy (one mask, seeded by the first
     * reader's index); another input draws its own; a recomputation of the layer (same pass again) draws the same
     * mask; leaving the pass frees the copy; passes that build no graph read x as it is.
     */
    @Test
    void oneMaskPerInputSharedByItsReaders() {
        double rate = 0.5;
        Adapters a = new Adapters(LoraConfig.defaults().withDropout(rate));
        a.key(11);
        try (NDManager m = NDManager.newBaseManager()) {
            Pass p = new Pass(m, 1, 1, 0, null, null, true, 4, DataType.FLOAT32);
            NDArray x = m.randomNormal(new ai.djl.ndarray.types.Shape(5, 24));
            NDArray h = m.randomNormal(new ai.djl.ndarray.types.Shape(5, 24));
            a.enter(p);
            assertTrue(a.dropping());
            NDArray q = a.input(x, DataType.FLOAT32, 0);
            assertTrue(q == a.input(x, DataType.FLOAT32, 1) && q == a.input(x, DataType.FLOAT32, 2), "k and v read q's copy");
            byte[] bits = reference(120, Adapters.mix(Adapters.mix(11, 4), 0), (int) Math.round(rate * 65536));
            float[] xs = x.toFloatArray();
            float[] qs = q.toFloatArray();
            int dropped = 0;
            for (int i = 0; i < xs.length; i++) {
                assertEquals(Float.floatToIntBits(xs[i] * bits[i]), Float.floatToIntBits(qs[i]), "value " + i);
                dropped += 1 - bits[i];
            }
            assertTrue(dropped > 30 && dropped < 90, "about half dropped: " + dropped);
            NDArray o = a.input(h, DataType.FLOAT32, 3); // another input: its own mask, and q's copy is freed
            assertTrue(q.isReleased(), "the group's copy is freed when the next input comes");
            byte[] bitsO = reference(120, Adapters.mix(Adapters.mix(11, 4), 3), (int) Math.round(rate * 65536));
            float[] hs = h.toFloatArray();
            float[] os = o.toFloatArray();
            for (int i = 0; i < hs.length; i++) {
                assertEquals(Float.floatToIntBits(hs[i] * bitsO[i]), Float.floatToIntBits(os[i]), "value " + i);
            }
            a.leave();
            assertTrue(o.isReleased(), "leaving the pass frees the last copy");
            a.enter(p); // the layer again, in the backward pass: a new tensor with x's values gets x's mask
            NDArray again = a.input(x.duplicate(), DataType.FLOAT32, 0);
            assertArrayEquals(qs, again.toFloatArray(), 0f);
            a.leave();
            a.enter(new Pass(m, 1, 1, 0, null, null, false, 5, DataType.FLOAT32));
            assertTrue(!a.dropping());
            assertTrue(x == a.input(x, DataType.FLOAT32, 0), "no graph: x as it is");
            NDArray wide = a.input(x.toType(DataType.FLOAT16, false), DataType.FLOAT32, 0);
            assertEquals(DataType.FLOAT32, wide.getDataType());
            a.leave();
            assertTrue(wide.isReleased(), "a conversion made for the adapters is theirs to free");
        }
    }
}
