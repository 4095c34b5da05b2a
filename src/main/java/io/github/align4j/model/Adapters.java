package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
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
     * dropped when a 16-bit draw falls below round(rate · 65536), so the rate is exact to 1/65536; the
     * draws come from {@code SplittableRandom}'s sequence, eight values a long ({@link #maskBytes}).
     *
     * <p>The mask's bytes are drawn straight into libtorch memory ({@link #mask}), never into a fresh Java
     * buffer per mask: masks are as large as the activations (tokens × in per projection, per pass), and
     * such buffers would pile up until the garbage collector ran (measured: 6 GB of direct buffers in one
     * step of a 1.1B model). The 0/1 bytes multiply x directly, which equals
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
        NDArray bits = mask(x.getManager(), x.getShape(), (int) size, mix(mix(key, p.id), index),
                (int) Math.round(rate * 65536));
        NDArray out = x.mul(bits); // a float times 0/1 bytes: x or ±0, in x's type
        Ops.free(bits);
        return out;
    }

    /**
     * The n mask bytes ({@link #maskBytes}) as a uint8 tensor of {@code shape}. On the CPU they are written straight
     * into the tensor's memory (DJL's direct view of a contiguous CPU tensor); elsewhere, or if this DJL's view is a
     * copy, they are drawn into a reused buffer and copied.
     */
    NDArray mask(NDManager manager, Shape shape, int n, long seed, int threshold) {
        return mask(manager, shape, n, seed, threshold,
                ai.djl.Device.Type.CPU.equals(manager.getDevice().getDeviceType()) && CpuView.ALIASES);
    }

    NDArray mask(NDManager manager, Shape shape, int n, long seed, int threshold, boolean inPlace) {
        if (inPlace) {
            NDArray bits = manager.create(shape, DataType.UINT8); // uninitialized: every byte is written below
            maskBytes(bits.toByteBuffer(true).order(ByteOrder.LITTLE_ENDIAN), n, seed, threshold);
            return bits;
        }
        if (scratch == null || scratch.capacity() < n) {
            scratch = ByteBuffer.allocateDirect(Math.max(n, 1 << 16)).order(ByteOrder.nativeOrder());
        }
        ByteBuffer bytes = scratch.duplicate().clear().limit(n).slice().order(ByteOrder.LITTLE_ENDIAN);
        maskBytes(bytes, n, seed, threshold);
        // owned: copied into libtorch memory (autograd keeps the mask for backward), and scratch is free again
        return Scalars.owned(manager.create(bytes, shape, DataType.UINT8));
    }

    /** Whether writing into {@code toByteBuffer(true)} of a CPU tensor writes the tensor (checked once). */
    static final class CpuView {
        static final boolean ALIASES = probe();

        private static boolean probe() {
            try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu())) {
                NDArray t = m.zeros(new Shape(8), DataType.UINT8);
                ByteBuffer view = t.toByteBuffer(true);
                if (!view.isDirect() || view.capacity() < 8) {
                    return false;
                }
                view.put(3, (byte) 7);
                return t.toByteArray()[3] == 7;
            }
        }
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
    private static final long HIGH = 0x8080808080808080L; // each byte's top bit
    private static final long LOW = 0x7f7f7f7f7f7f7f7fL; // each byte's other seven
    private static final long ONES = 0x0101010101010101L;

    /** The seed of the stream that breaks ties of the high bytes ({@link #maskBytes}). */
    static long tieSeed(long seed) {
        return mix(seed, 0x7e5L);
    }

    /**
     * n mask bytes (1 keep, 0 drop) into {@code bytes} (little-endian): value i is kept when its 16-bit draw is at
     * least {@code threshold} (so dropped with probability threshold / 65536, exactly). Value i's draw is
     * {@code hi << 8 | lo}, hi being byte i mod 8 of the (i / 8)-th {@code nextLong()} of
     * {@code new SplittableRandom(seed)} and lo the same byte of {@code new SplittableRandom(tieSeed(seed))}'s:
     * the k-th long of a seeded SplittableRandom is mix64(seed + (k + 1)·γ), so each is computed where it is needed,
     * and lo only when hi equals the threshold's high byte (one value in 256). Eight values a long, compared a
     * byte lane at a time within the long: half the draws and far fewer operations than one 16-bit draw a value.
     */
    static void maskBytes(ByteBuffer bytes, int n, long seed, int threshold) {
        if (threshold >= 65536) {
            for (int i = 0; i < n; i++) {
                bytes.put(i, (byte) 0);
            }
            return;
        }
        int hi = threshold >>> 8;
        int lo = threshold & 0xff;
        long tie = tieSeed(seed);
        long above = (hi + 1L) & 0x7f; // kept outright: high byte ≥ hi + 1 (≤ 256)
        boolean aboveHasTopBit = hi + 1 >= 128;
        boolean noneAbove = hi == 255;
        long equal = hi * ONES;
        int blocks = (int) ((n + 7L) >>> 3);
        for (int k = 0; k < blocks; k++) {
            int at = k << 3;
            long r = mix64(seed + (k + 1L) * GOLDEN_GAMMA);
            // per byte b = (top, rest): b ≥ c ⇔ top > c's top, or tops equal and rest ≥ c's rest; the top bit of
            // ((rest | 0x80) − c's rest) is rest ≥ c's rest, with no borrow across bytes
            long restAtLeast = ((r & LOW) | HIGH) - above * ONES;
            long keep = noneAbove ? 0 : aboveHasTopBit ? r & restAtLeast & HIGH : (r | restAtLeast) & HIGH;
            long x = r ^ equal; // a zero byte where the high byte ties
            long ties = ~(((x & LOW) + LOW) | x) & HIGH;
            if (ties != 0) {
                long r2 = mix64(tie + (k + 1L) * GOLDEN_GAMMA);
                for (long t = ties; t != 0; t &= t - 1) {
                    int shift = Long.numberOfTrailingZeros(t) - 7;
                    if (((r2 >>> shift) & 0xff) >= lo) {
                        keep |= t & -t;
                    }
                }
            }
            long ones = keep >>> 7;
            if (n - at >= 8) {
                bytes.putLong(at, ones);
            } else {
                for (int i = at; i < n; i++, ones >>>= 8) {
                    bytes.put(i, (byte) (ones & 1));
                }
            }
        }
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
