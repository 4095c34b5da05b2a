package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.internal.Offline;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Which SIMD kernels libtorch dispatches to, as a checkpoint records them, and how a resume compares them. */
class CpuKernelsTest {
    static {
        Offline.ensure();
    }

    static final Set<String> XEON = Set.of("fpu", "sse2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl",
            "avx512cd", "amx_tile");
    static final Set<String> HASWELL = Set.of("fpu", "sse2", "avx", "avx2", "fma");

    @Test
    void theBestTheCpuSupportsUnlessTheEnvironmentAsksForLess() {
        assertEquals("avx512", CpuKernels.kernels(null, XEON, "amd64"));
        assertEquals("avx2", CpuKernels.kernels("avx2", XEON, "amd64"));
        assertEquals("default", CpuKernels.kernels("DEFAULT", XEON, "amd64"));
        assertEquals("avx512", CpuKernels.kernels("avx512", XEON, "amd64"));
        assertEquals("avx512", CpuKernels.kernels("sse9", XEON, "amd64"), "libtorch ignores a value it does not know");
        assertEquals("avx2", CpuKernels.kernels(null, HASWELL, "amd64"));
        assertEquals("avx2", CpuKernels.kernels("avx512", HASWELL, "amd64"), "not more than the CPU has");
        assertEquals("avx2", CpuKernels.kernels(null, Set.of("avx512f", "avx512vl", "avx512bw", "avx2", "fma"), "amd64"),
                "AVX-512 without DQ is not libtorch's avx512");
        assertEquals("default", CpuKernels.kernels(null, Set.of("avx", "avx2"), "x86_64"), "AVX2 without FMA");
        assertEquals("aarch64", CpuKernels.kernels(null, Set.of("asimd"), "aarch64"));
        assertEquals("amd64", CpuKernels.kernels(null, null, "amd64"), "no flags to read");
    }

    @Test
    void thisProcessRecordsSurefiresThreadsAndTheKernelsOfItsEnvironment() {
        CpuKernels c = CpuKernels.current();
        // Surefire sets ai.djl.pytorch.num_threads and num_interop_threads to 1 (pom.xml)
        assertEquals(Integer.getInteger("ai.djl.pytorch.num_threads", c.threads()), c.threads());
        assertEquals(Integer.getInteger("ai.djl.pytorch.num_interop_threads", c.interopThreads()), c.interopThreads());
        assertTrue(c.threads() >= 1 && c.interopThreads() >= 1, c.toString());
        assertEquals(CpuKernels.kernels(System.getenv("ATEN_CPU_CAPABILITY"), CpuKernels.cpuFlags(), System.getProperty("os.arch")),
                c.kernels());
        if (System.getenv("ATEN_CPU_CAPABILITY") == null && CpuKernels.cpuFlags() != null && CpuKernels.cpuFlags().contains("avx512dq")
                && CpuKernels.cpuFlags().contains("avx512vl") && CpuKernels.cpuFlags().contains("avx512bw")) {
            assertEquals("avx512", c.kernels());
        }
    }

    @Test
    void aResumeNamesWhatDiffersAndIgnoresWhatAnOldCheckpointDoesNotSay() throws Exception {
        CpuKernels now = new CpuKernels(2, 1, "avx512");
        ObjectNode saved = new ObjectMapper().createObjectNode();
        assertEquals(List.of(), now.differences(saved), "an older checkpoint records none of them");
        now.save(saved);
        assertEquals(2, saved.get("intra_op_threads").asInt());
        assertEquals("avx512", saved.get("cpu_kernels").asText());
        assertEquals(List.of(), now.differences(saved));
        assertEquals(List.of("intra-op threads 2 → 1", "CPU kernels avx512 → default"),
                new CpuKernels(1, 1, "default").differences(saved));
        saved.put("cpu_kernels", "avx2\u001b[31m");
        assertEquals(List.of("CPU kernels avx2\\u001b[31m → avx512"), now.differences(saved), "escaped for the terminal");
    }
}
