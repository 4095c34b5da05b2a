package io.github.align4j.model.internal;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The two limits on what one forward pass may be given, checked before libtorch is asked for
 * memory: a sequence may not be longer than the model's positions ({@code max_position_embeddings},
 * GPT-2's {@code n_positions}), and a batch must fit in memory.
 *
 * <p>The memory check is a lower bound, not a forecast: it counts only the attention scores and
 * probabilities ([B, H, T, T], two of them while one layer runs, one per layer kept for backward
 * when training) and the mask. When even that exceeds the memory available, the step could never
 * run, and a clear error is better than libtorch's abort. A batch that passes may still run out.
 */
public final class SequenceLimits {
    private SequenceLimits() {}

    /** The config key that holds the model's positions. */
    public static String positionsKey(ModelConfig c) {
        return c.isGpt2() ? "n_positions" : "max_position_embeddings";
    }

    /**
     * @throws Align4jException when {@code tokens} exceeds the model's positions: "{@code what} has N
     *     tokens, more than the model's max_position_embeddings (P); {@code fix}"
     */
    public static void checkLength(ModelConfig c, long tokens, String what, String fix) {
        if (tokens > c.maxPositions()) {
            throw new Align4jException(what + " has " + tokens + " tokens, more than the model's " + positionsKey(c)
                    + " (" + c.maxPositions() + ", in config.json); " + fix);
        }
    }

    /**
     * A lower bound on the bytes one forward pass (and its backward, when {@code training}) of
     * {@code rows} sequences of {@code tokens} tokens allocates at its peak beyond the weights.
     */
    public static long lowerBoundBytes(ModelConfig c, long rows, long tokens, boolean training, DataType dtype) {
        double square = (double) rows * c.numHeads() * tokens * tokens * dtype.getNumOfBytes(); // one [B, H, T, T]
        double bytes = (training ? c.numLayers() + 1 : 2) * square + (double) tokens * tokens * 4; // + the f32 mask
        return bytes >= Long.MAX_VALUE ? Long.MAX_VALUE : (long) bytes;
    }

    /**
     * Refuses a batch whose {@link #lowerBoundBytes} exceed the memory available on the model's
     * device.
     *
     * @param fix what the user can lower, e.g. "lower --batch-size or --max-length"
     */
    public static void checkMemory(CausalLM lm, long rows, long tokens, boolean training, String fix) {
        DataType dtype = lm.computeType(); // activations: float32 for float16 weights on the CPU
        long need = lowerBoundBytes(lm.config(), rows, tokens, training, dtype);
        if (need < SMALL) {
            return; // not worth a look at the machine
        }
        checkMemory(lm.config(), rows, tokens, training, dtype, availableBytes(lm.device()), lm.device().toString(), fix);
    }

    static final long SMALL = 256L << 20;

    /** {@link #checkMemory(CausalLM, long, long, boolean, String)} with the available bytes given (the model's tests). */
    public static void checkMemory(ModelConfig c, long rows, long tokens, boolean training, DataType dtype, long available,
            String device, String fix) {
        long need = lowerBoundBytes(c, rows, tokens, training, dtype);
        if (available >= 0 && need > available) {
            throw new Align4jException(String.format(Locale.ROOT, "a batch of %d sequences of %d tokens needs at least "
                    + "%s for its attention (%d heads × %d² × %d bytes%s) but %s has %s available; %s",
                    rows, tokens, gib(need), c.numHeads(), tokens, dtype.getNumOfBytes(),
                    training ? ", kept for each of " + c.numLayers() + " layers to train" : "",
                    device, gib(available), fix));
        }
    }

    private static String gib(long bytes) {
        return bytes == Long.MAX_VALUE ? "more than 8 EiB" : String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
    }

    /**
     * Memory a new allocation can get on {@code device}, or -1 when unknown. CPU: the smaller of
     * Linux's MemAvailable + SwapFree and the cgroup's limit (else the JVM's view of free
     * memory). GPU: the device's total memory (what PyTorch caches counts as used to the driver).
     */
    public static long availableBytes(Device device) {
        if (device.isGpu()) {
            try {
                return ai.djl.util.cuda.CudaUtils.getGpuMemory(device).getMax();
            } catch (RuntimeException | LinkageError e) {
                return -1;
            }
        }
        long best = -1;
        try {
            long avail = -1;
            long swap = 0;
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) {
                    avail = kib(line);
                } else if (line.startsWith("SwapFree:")) {
                    swap = kib(line);
                }
            }
            if (avail >= 0) {
                best = avail + Math.max(swap, 0);
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: below
        }
        if (best < 0 && ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            best = os.getFreeMemorySize();
        }
        long cgroup = cgroupLimit();
        return cgroup >= 0 && (best < 0 || cgroup < best) ? cgroup : best;
    }

    private static long kib(String line) {
        String[] f = line.trim().split("\\s+");
        return Long.parseLong(f[1]) * 1024;
    }

    /** The cgroup (v2) memory limit, or -1 when none: page cache counts in its usage, so not "remaining". */
    private static long cgroupLimit() {
        try {
            Path max = Path.of("/sys/fs/cgroup/memory.max");
            if (!Files.isRegularFile(max)) {
                return -1;
            }
            List<String> m = Files.readAllLines(max);
            return m.isEmpty() || m.get(0).trim().equals("max") ? -1 : Long.parseLong(m.get(0).trim());
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}
