package io.github.align4j.train;

import ai.djl.pytorch.jni.JniUtils;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * What decides a CPU run's rounding besides its inputs: libtorch's intra-op and inter-op thread
 * counts and the SIMD kernels it dispatches to ({@code ATEN_CPU_CAPABILITY} when set, else the best the
 * CPU supports: avx512, avx2 or default). A resume is bit-identical to an uninterrupted run only when
 * these are the same; a checkpoint records them and a resume that sees others says so.
 */
record CpuKernels(int threads, int interopThreads, String kernels) {
    private static final List<String> ORDER = List.of("default", "avx2", "avx512");

    /** This process's: libtorch's thread counts (the engine is loaded) and the kernels it dispatches to. */
    static CpuKernels current() {
        ai.djl.engine.Engine.getEngine("PyTorch"); // loads libtorch (and applies ai.djl.pytorch.num_threads) if nothing has yet
        return new CpuKernels(JniUtils.getNumThreads(), JniUtils.getNumInteropThreads(),
                kernels(System.getenv("ATEN_CPU_CAPABILITY"), cpuFlags(), System.getProperty("os.arch", "")));
    }

    /**
     * The kernels libtorch 2.7 chooses on x86-64: the environment's value when it names a known level the
     * CPU supports (else the CPU's best), avx512 with AVX-512 F/VL/BW/DQ and FMA, avx2 with AVX2 and FMA,
     * else default. Elsewhere (or with no flags to read) the architecture's name.
     *
     * @param env ATEN_CPU_CAPABILITY (null when unset)
     * @param flags the CPU's feature flags (/proc/cpuinfo), null when unknown
     */
    static String kernels(String env, Set<String> flags, String arch) {
        boolean x86 = arch.equals("amd64") || arch.equals("x86_64");
        if (!x86 || flags == null) {
            return arch.isEmpty() ? "unknown" : arch;
        }
        String best = flags.containsAll(List.of("avx512f", "avx512vl", "avx512bw", "avx512dq", "fma")) ? "avx512"
                : flags.containsAll(List.of("avx2", "fma")) ? "avx2" : "default";
        int asked = env == null ? -1 : ORDER.indexOf(env.trim().toLowerCase(Locale.ROOT));
        return asked >= 0 && asked < ORDER.indexOf(best) ? ORDER.get(asked) : best;
    }

    /** The first "flags" line of /proc/cpuinfo as a set; null where there is none. */
    static Set<String> cpuFlags() {
        Path info = Path.of("/proc/cpuinfo");
        if (!Files.isReadable(info)) {
            return null;
        }
        try (BufferedReader r = Files.newBufferedReader(info, StandardCharsets.ISO_8859_1)) {
            for (String l; (l = r.readLine()) != null;) {
                if (l.startsWith("flags") && l.indexOf(':') > 0) {
                    return Set.of(l.substring(l.indexOf(':') + 1).trim().split("\\s+"));
                }
            }
        } catch (IOException | IllegalArgumentException e) {
            return null; // duplicate flags or unreadable: unknown
        }
        return null;
    }

    void save(ObjectNode into) {
        into.put("intra_op_threads", threads);
        into.put("interop_threads", interopThreads);
        into.put("cpu_kernels", kernels);
    }

    /**
     * How the run a checkpoint continues differs from this one ("intra-op threads 1 → 2"); empty when the
     * same, or when the checkpoint does not say (written by an older align4j).
     */
    List<String> differences(JsonNode saved) {
        List<String> d = new ArrayList<>();
        if (saved.path("intra_op_threads").isInt() && saved.path("intra_op_threads").asInt() != threads) {
            d.add("intra-op threads " + saved.path("intra_op_threads").asInt() + " → " + threads);
        }
        if (saved.path("interop_threads").isInt() && saved.path("interop_threads").asInt() != interopThreads) {
            d.add("inter-op threads " + saved.path("interop_threads").asInt() + " → " + interopThreads);
        }
        if (saved.path("cpu_kernels").isTextual() && !saved.path("cpu_kernels").asText().equals(kernels)) {
            String was = saved.path("cpu_kernels").asText();
            d.add("CPU kernels " + io.github.align4j.internal.Texts.printable(was.length() > 40 ? was.substring(0, 40) + "…" : was)
                    + " → " + kernels);
        }
        return d;
    }
}
