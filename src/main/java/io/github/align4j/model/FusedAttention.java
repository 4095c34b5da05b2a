package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import io.github.align4j.model.internal.FusedAttentionSwitch;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Causal attention as one libtorch kernel, {@code scaled_dot_product_attention(q, k, v, is_causal=True)}:
 * <pre>
 *   o = softmax(q·kᵀ + causal mask) · v        q already scaled by 1/√D (scale = 1 here)
 * </pre>
 * the same values as {@link CausalAttention}'s three operations, without the [B, H, T, T] scores and
 * probabilities in memory: libtorch's CPU flash-attention kernel works through blocks of queries and
 * keys, skips the blocks above the diagonal and keeps only the output and a log-sum-exp per query for
 * the backward pass (on a GPU, libtorch's fused kernels). DJL has no binding for the operation, so it is
 * reached through a TorchScript module whose one method calls it; the module's archive (code, no weights)
 * is written here in memory and compiled by libtorch once per JVM. Grouped-query keys and values are
 * repeated to the query heads inside that method (query head h reads kv head h / rep), so autograd sums
 * their gradients back.
 *
 * <p>Used only for a full causal pass (no KV cache, no sliding window that cuts into the sequence), and
 * where {@link FusedAttentionSwitch} says so: on a GPU, and on the CPU for rows of at least
 * {@value FusedAttentionSwitch#CPU_MIN_LENGTH} tokens, where it was measured faster (the system property
 * {@code align4j.attention} or the environment variable {@code ALIGN4J_ATTENTION}: {@code auto}, {@code fused}
 * or {@code materialized}). If libtorch cannot compile the module, attention stays materialized and the
 * reason is logged once at debug level.
 */
final class FusedAttention {
    static final String PROPERTY = FusedAttentionSwitch.PROPERTY;
    private static final Logger LOG = LoggerFactory.getLogger(FusedAttention.class);
    private static final Kernel CAUSAL = new Kernel("CausalSdpa", "q, k, v", "None, 0., True");
    private static final Kernel MASKED = new Kernel("MaskedSdpa", "q, k, v, mask", "mask, 0., False");
    /** Calls that ran fused, for tests to tell the paths apart. */
    static final java.util.concurrent.atomic.AtomicLong CALLS = new java.util.concurrent.atomic.AtomicLong();

    private FusedAttention() {}

    /**
     * softmax(q·kᵀ + causal mask)·v for query heads H = KV·rep.
     *
     * @param q [B, H, T, D], scaled by 1/√D
     * @param k [B, KV, T, D]
     * @param v [B, KV, T, D]
     * @return [B, H, T, D] in q's manager, or null when the kernel is not available (use the materialized path)
     */
    static NDArray attend(NDArray q, NDArray k, NDArray v) {
        return CAUSAL.call(new NDList(q, k, v));
    }

    /**
     * softmax(q·kᵀ + mask)·v with an additive mask (a packed pass's, {@link Packing#mask}), for query heads
     * H = KV·rep.
     *
     * @param mask [B, 1, T, T], 0 or −∞
     * @return [B, H, T, D] in q's manager, or null when the kernel is not available (use the materialized path)
     */
    static NDArray attend(NDArray q, NDArray k, NDArray v, NDArray mask) {
        return MASKED.call(new NDList(q, k, v, mask));
    }

    /** One TorchScript module whose forward calls scaled_dot_product_attention; compiled once per JVM, on first use. */
    private static final class Kernel {
        final String name;
        /** TorchScript source: the serialized form of a scripted module with one method. */
        final String code;
        private volatile PtSymbolBlock module;
        private volatile boolean failed;

        /**
         * @param tensors the forward's tensor parameters, "q, k, v" and any more
         * @param arguments scaled_dot_product_attention's arguments after q, k, v, up to is_causal
         */
        Kernel(String name, String tensors, String arguments) {
            this.name = name;
            StringBuilder signature = new StringBuilder("  def forward(self: __torch__." + name);
            for (String t : tensors.split(", ")) {
                signature.append(",\n    ").append(t).append(": Tensor");
            }
            this.code = String.join("\n",
                    "class " + name + "(Module):",
                    "  __parameters__ = []",
                    "  __buffers__ = []",
                    "  training : bool",
                    signature + ") -> Tensor:",
                    "    rep = torch.size(q, 1) // torch.size(k, 1)",
                    "    if rep > 1:",
                    "      k = torch.repeat_interleave(k, rep, 1)",
                    "      v = torch.repeat_interleave(v, rep, 1)",
                    "    return torch.scaled_dot_product_attention(q, k, v, " + arguments + ", scale=1.)",
                    "");
        }

        NDArray call(NDList inputs) {
            PtSymbolBlock m = module();
            if (m == null) {
                return null;
            }
            // isTrain = true: run under the caller's grad mode (false would switch autograd off for the call)
            NDList out = IValueUtils.forward(m, inputs, true);
            CALLS.incrementAndGet();
            return out.singletonOrThrow();
        }

        private PtSymbolBlock module() {
            PtSymbolBlock m = module;
            if (m != null || failed) {
                return m;
            }
            synchronized (this) {
                if (module == null && !failed) {
                    try {
                        // a manager of its own, never closed: the module lives as long as the JVM, like libtorch's kernels
                        PtNDManager manager = (PtNDManager) NDManager.newBaseManager();
                        module = JniUtils.loadModule(manager, new ByteArrayInputStream(archive()), true, false);
                    } catch (IOException | RuntimeException e) {
                        failed = true;
                        LOG.debug("fused attention ({}) unavailable, attention stays materialized: {}", name, e.toString());
                    }
                }
                return module;
            }
        }

        /** The TorchScript archive: the module's pickled object (no attributes but {@code training}), its code, no constants. */
        byte[] archive() throws IOException {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
                zip.setMethod(ZipOutputStream.STORED);
                entry(zip, "sdpa/data.pkl", dataPickle());
                entry(zip, "sdpa/code/__torch__.py", code.getBytes(StandardCharsets.UTF_8));
                entry(zip, "sdpa/constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'}); // protocol 2, an empty tuple
                entry(zip, "sdpa/version", "3\n".getBytes(StandardCharsets.US_ASCII));
            }
            return bytes.toByteArray();
        }

        /** Pickle protocol 2: GLOBAL __torch__.{name}, NEWOBJ with no arguments, BUILD with {'training': True}. */
        private byte[] dataPickle() {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.write(0x80);
            b.write(2); // PROTO 2
            b.writeBytes(("c__torch__\n" + name + "\n").getBytes(StandardCharsets.US_ASCII)); // GLOBAL
            b.write(')'); // EMPTY_TUPLE
            b.write(0x81); // NEWOBJ
            b.write('}'); // EMPTY_DICT
            b.write('('); // MARK
            b.write('X'); // BINUNICODE "training"
            b.writeBytes(new byte[] {8, 0, 0, 0});
            b.writeBytes("training".getBytes(StandardCharsets.US_ASCII));
            b.write(0x88); // NEWTRUE
            b.write('u'); // SETITEMS
            b.write('b'); // BUILD
            b.write('.'); // STOP
            return b.toByteArray();
        }
    }

    private static void entry(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        e.setCrc(crc.getValue());
        zip.putNextEntry(e);
        zip.write(data);
        zip.closeEntry();
    }
}
