package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import io.github.align4j.loss.Scalars;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The LoRA adapters of one model: the settings, each adapted projection's A and B (registered under
 * PEFT's tensor names, in module order) and the switches every adapted {@link Linear} reads at
 * forward time: whether the adapters are on (off: the base model, e.g. the DPO reference) and the
 * pass being run (which decides whether dropout applies and which mask it draws).
 *
 * <p>Dropout masks are drawn in Java from a seed made of the model's dropout key (set per
 * micro-batch by a trainer), the pass number since that key and the module's index, so that a
 * layer recomputed in the backward pass draws the mask its forward pass drew, and a resumed run
 * draws the masks the uninterrupted run would have.
 */
final class Adapters {
    final LoraConfig config;
    final double scaling;
    /** Module name → its adapter, in the model's module order. */
    final Map<String, Lora> byModule = new LinkedHashMap<>();
    boolean enabled = true;
    /** The pass running now (set by the decoder around each forward, and around a recomputed layer). */
    Pass pass;
    private long key;
    private long passes;
    private java.nio.ByteBuffer maskBuffer;

    /** One projection's adapter: A [r, in], B [out, r] and its position among the adapted modules. */
    record Lora(String module, Parameter a, Parameter b, int index) {}

    Adapters(LoraConfig config) {
        this.config = config;
        this.scaling = config.scaling();
    }

    /** Sets the dropout key (a trainer's seed, step and micro-batch) and restarts the pass count. */
    void key(long k) {
        key = k;
        passes = 0;
    }

    /** The id of a new forward pass. */
    long nextPass() {
        return passes++;
    }

    /**
     * dropout(x) for module {@code index} in the current pass: x itself when the pass is not training or
     * the rate is 0; else x · mask with mask ∈ {0, 1/(1−rate)} drawn from the pass's seed.
     */
    NDArray dropout(NDArray x, int index) {
        Pass p = pass;
        double rate = config.dropout();
        if (rate == 0 || p == null || !p.training) {
            return x;
        }
        long n = x.getShape().size();
        if (n > Integer.MAX_VALUE / 4) {
            throw new IllegalStateException("lora_dropout over " + n + " values at once; lower the batch size");
        }
        SplittableRandom rng = new SplittableRandom(mix(mix(key, p.id), index));
        float keep = (float) (1 / (1 - rate));
        NDArray mask;
        synchronized (this) {
            java.nio.FloatBuffer m = maskBuffer((int) n).asFloatBuffer();
            for (int i = 0; i < n; i++) {
                m.put(i, rng.nextDouble() < rate ? 0f : keep);
            }
            // owned: copied into libtorch memory, which autograd may keep for backward, so that the one
            // direct buffer is reused by the next mask (a new float[] and direct buffer per mask would stay
            // until a GC: hundreds of MB per step at real sizes)
            mask = Scalars.owned(x.getManager().create(maskBuffer, new Shape(x.getShape().getShape()), DataType.FLOAT32));
        }
        NDArray typed = mask.getDataType() == x.getDataType() ? mask : mask.toType(x.getDataType(), false);
        NDArray out = x.mul(typed);
        Ops.free(mask == typed ? null : mask, typed);
        return out;
    }

    /** The reusable direct buffer the masks are drawn into, grown to hold n floats; its limit is set to n floats. */
    private java.nio.ByteBuffer maskBuffer(int n) {
        if (maskBuffer == null || maskBuffer.capacity() < 4L * n) {
            maskBuffer = java.nio.ByteBuffer.allocateDirect(4 * n).order(java.nio.ByteOrder.nativeOrder());
        }
        maskBuffer.clear().limit(4 * n);
        return maskBuffer;
    }

    private static long mix(long a, long b) {
        long z = a * 0x9E3779B97F4A7C15L + b + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
