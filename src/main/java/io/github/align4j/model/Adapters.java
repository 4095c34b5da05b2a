package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import ai.djl.nn.Parameter;
import io.github.align4j.internal.Scalars;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The LoRA adapters of one model: the settings, each adapted projection's A and B (registered under
 * PEFT's tensor names, in module order) and the switches every adapted {@link Linear} reads at
 * forward time: whether the adapters are on (off: the base model, e.g. the DPO reference) and the
 * pass being run (which decides whether dropout applies and which mask it draws).
 *
 * <p>Dropout masks are drawn in Java from a seed made of the model's dropout key (set per
 * micro-batch by a trainer), the pass number since that key and the module's index, so that a
 * layer recomputed in the backward pass draws the mask its forward pass drew, and a resumed run
 * draws the masks the uninterrupted run would have. One mask is drawn per input: the projections
 * that read the same tensor in a pass (q, k and v; gate and up) share it and its dropped copy
 * ({@link #input}). PEFT draws one per module; each module's mask is the same Bernoulli draw at the
 * same rate either way, only the masks of a group are no longer independent of each other.
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
    private ByteBuffer scratch; // the last mask's bytes, reused (see dropout)
    // the last input an adapter read in this pass and what the adapters read instead (see input)
    private NDArray lastInput;
    private Pass lastPass;
    private NDArray lastRead; // owned, or lastInput itself

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

    /** Runs {@code p} (a pass, or one of its layers again in the backward pass) until {@link #leave}. */
    void enter(Pass p) {
        forget();
        pass = p;
    }

    /** The pass is over: no pass runs, and the copy kept for the projections of its last input is freed. */
    void leave() {
        forget();
        pass = null;
    }

    private void forget() {
        if (lastRead != null && lastRead != lastInput) {
            Ops.free(lastRead);
        }
        lastInput = null;
        lastPass = null;
        lastRead = null;
    }

    /**
     * What an adapter reads for input x: x in the adapters' precision {@code type}, after {@link #dropout} while a
     * training pass runs. Every adapter that reads the same x in the same pass gets the same tensor, so a group of
     * projections over one input (q, k, v; gate, up) converts and masks it once, with one mask (drawn with the first
     * reader's {@code index}), and autograd keeps one dropped copy and one mask for the group instead of one per
     * adapter. The result belongs to this object: it is freed when the next input comes or the pass ends.
     */
    NDArray input(NDArray x, DataType type, int index) {
        if (x == lastInput && pass == lastPass && lastRead != null) {
            return lastRead;
        }
        forget();
        NDArray wide = x.getDataType() == type ? x : x.toType(type, false);
        NDArray read = dropout(wide, index);
        if (read != wide && wide != x) {
            Ops.free(wide);
        }
        lastInput = x;
        lastPass = pass;
        lastRead = read;
        return read;
    }

    /** Whether {@link #input} drops values now (a training pass with a non-zero rate). */
    boolean dropping() {
        return config.dropout() != 0 && pass != null && pass.training;
    }

    /**
     * The kept values of dropout(x) for module {@code index} in the current pass: x itself when the pass is not
     * training or the rate is 0; else x · mask with mask ∈ {0, 1} drawn from the pass's seed. Inverted dropout's
     * 1/(1−rate) is not applied here: the caller folds it into the adapter's scaling ({@link #scale}), on the
     * rank-r path's small output, instead of a pass over every input value forward and another backward. Each value is
     * dropped when a 16-bit draw falls below round(rate · 65536), so the rate is exact to 1/65536: the
     * draws are {@code new SplittableRandom(seed).nextLong()}'s, four 16-bit draws a long, low bits first
     * ({@link #maskBytes}, inlined so that eight mask bytes are written at once).
     *
     * <p>The mask's bytes are drawn into one direct buffer this object reuses and copied into libtorch
     * memory at once: masks are as large as the activations (tokens × in per projection, per pass), and
     * a fresh Java buffer for each would pile up until the garbage collector ran (measured: 6 GB of
     * direct buffers in one step of a 1.1B model). The 0/1 bytes multiply x directly, which equals
     * x · (bytes as floats) bit for bit, without a float mask: autograd keeps one byte a value for the
     * backward pass instead of four.
     */
    NDArray dropout(NDArray x, int index) {
        Pass p = pass;
        double rate = config.dropout();
        if (rate == 0 || p == null || !p.training) {
            return x;
        }
        long size = x.getShape().size();
        if (size > Integer.MAX_VALUE) {
            throw new IllegalStateException("lora_dropout over " + size + " values at once; lower the batch size");
        }
        int n = (int) size;
        if (scratch == null || scratch.capacity() < n) {
            scratch = ByteBuffer.allocateDirect(Math.max(n, 1 << 16)).order(ByteOrder.nativeOrder());
        }
        ByteBuffer bytes = scratch.duplicate().clear().limit(n).slice().order(ByteOrder.LITTLE_ENDIAN);
        maskBytes(bytes, n, mix(mix(key, p.id), index), (int) Math.round(rate * 65536));
        // owned: copied into libtorch memory (autograd keeps the mask for backward), and scratch is free again
        NDArray bits = Scalars.owned(x.getManager().create(bytes, new Shape(x.getShape().getShape()), DataType.UINT8));
        NDArray out = x.mul(bits); // a float times 0/1 bytes: x or ±0, in x's type
        Ops.free(bits);
        return out;
    }

    /**
     * What the adapter's output B·A·dropout(x) is multiplied by: the LoRA scaling, times inverted dropout's
     * 1/(1−rate) when {@code dropped} (x came back from {@link #dropout} masked), as PEFT's
     * {@code lora_B(lora_A(dropout(x))) * scaling} computes it with the factor on the input.
     */
    double scale(boolean dropped) {
        return dropped ? scaling / (1 - config.dropout()) : scaling;
    }

    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L; // SplittableRandom's gamma for a seeded instance

    /**
     * n mask bytes (1 keep, 0 drop) into {@code bytes} (little-endian): value i is kept when 16-bit draw i
     * is at least {@code threshold}, draw 4k + j being bits 16j.. of the k-th {@code nextLong()} of
     * {@code new SplittableRandom(seed)} (seed += γ, then SplittableRandom's mix64; its published
     * algorithm, pinned against the JDK's class by a test).
     */
    static void maskBytes(ByteBuffer bytes, int n, long seed, int threshold) {
        long state = seed;
        long t = threshold - 1L;
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            state += GOLDEN_GAMMA;
            long r1 = mix64(state);
            state += GOLDEN_GAMMA;
            long r2 = mix64(state);
            bytes.putLong(i, keep4(r1, t) | keep4(r2, t) << 32);
        }
        while (i < n) {
            state += GOLDEN_GAMMA;
            long r = mix64(state);
            for (int k = 0; k < 4 && i < n; k++, i++) {
                bytes.put(i, (byte) ((t - ((r >>> (16 * k)) & 0xffff)) >>> 63));
            }
        }
    }

    /** Four keep bytes (0 or 1, low byte first) of the four 16-bit draws of r: 1 where a draw exceeds t. */
    private static long keep4(long r, long t) {
        return (t - (r & 0xffff)) >>> 63 | ((t - ((r >>> 16) & 0xffff)) >>> 63) << 8
                | ((t - ((r >>> 32) & 0xffff)) >>> 63) << 16 | ((t - (r >>> 48)) >>> 63) << 24;
    }

    /** SplittableRandom.mix64. */
    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    static long mix(long a, long b) {
        long z = a * 0x9E3779B97F4A7C15L + b + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
