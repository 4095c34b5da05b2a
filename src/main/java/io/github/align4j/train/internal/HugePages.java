package io.github.align4j.train.internal;

import io.github.align4j.internal.NativeEnv;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Whether libtorch's large CPU blocks get transparent huge pages, for {@code bench} to say and the memory planner to
 * know. glibc serves every block above its mmap threshold (at most 32 MiB) with a fresh mapping, faulted in 4 KiB at a
 * time; with huge pages a fault maps 2 MiB. Two process settings turn them on where the kernel's mode is
 * {@code madvise}: libtorch's own {@code THP_MEM_ALLOC_ENABLE=1} (its blocks of 2 MiB or more aligned to 2 MiB and
 * advised for huge pages) and glibc's {@code GLIBC_TUNABLES=glibc.malloc.hugetlb=1} (every block glibc maps). Measured
 * on the 1.1B-shaped LoRA step (docs/performance.md, "Page faults"): 123.3 s a step and 83 million faults without,
 * 113.1 s and 4.0 million with the first, 106.6 s and 3.0 million with the second; the first also lowered the peak
 * of a 56M LoRA step with recomputation from ~1,500 to ~950 MiB. Both are settings of the whole process, read from
 * its environment (libtorch's at its first allocation): the library only reports them; the command line, which owns
 * its process, sets libtorch's unless the user did (docs/cli.md).
 */
public final class HugePages {
    static final Path THP = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
    /** libtorch's switch, read from the C environment (the command line sets it to 1 unless the user chose). */
    public static final String LIBTORCH_SWITCH = "THP_MEM_ALLOC_ENABLE";
    private static final Pattern SELECTED = Pattern.compile("\\[(\\w+)]");
    private static final Pattern TUNABLE = Pattern.compile("(?:^|:)glibc\\.malloc\\.hugetlb=(\\d+)");

    private HugePages() {}

    /** This process's state, from {@code THP_MEM_ALLOC_ENABLE}, {@code GLIBC_TUNABLES} and the kernel's mode. */
    public static String describe() {
        return describe(System.getenv("GLIBC_TUNABLES"), NativeEnv.get(LIBTORCH_SWITCH), kernelMode());
    }

    /**
     * Whether libtorch advises huge pages for its blocks in this process ({@code THP_MEM_ALLOC_ENABLE=1}, which
     * libtorch reads as "1" only, and a kernel that does not disable them): glibc's arenas then keep less of what a
     * step frees (measured; the memory planner counts it).
     */
    public static boolean libtorchAdvises() {
        return libtorchAdvises(NativeEnv.get(LIBTORCH_SWITCH), kernelMode());
    }

    static boolean libtorchAdvises(String thpAlloc, String thpEnabled) {
        String mode = mode(thpEnabled);
        return "1".equals(thpAlloc) && mode != null && !mode.equals("never");
    }

    private static String kernelMode() {
        try {
            return Files.isReadable(THP) ? Files.readString(THP) : null;
        } catch (IOException | SecurityException e) {
            return null;
        }
    }

    private static String mode(String thpEnabled) {
        Matcher sel = thpEnabled == null ? null : SELECTED.matcher(thpEnabled);
        return sel != null && sel.find() ? sel.group(1) : null;
    }

    /**
     * @param tunables the value of {@code GLIBC_TUNABLES}, or null
     * @param thpAlloc the value of {@code THP_MEM_ALLOC_ENABLE}, or null
     * @param thpEnabled the contents of {@code /sys/kernel/mm/transparent_hugepage/enabled} (the mode in brackets), or
     *     null where there is none
     */
    static String describe(String tunables, String thpAlloc, String thpEnabled) {
        String mode = mode(thpEnabled);
        if (mode == null) {
            return "unknown (no transparent huge page setting to read)";
        }
        if (mode.equals("never")) {
            return "off (transparent huge pages are disabled on this system)";
        }
        if (libtorchAdvises(thpAlloc, thpEnabled)) {
            return "on (THP_MEM_ALLOC_ENABLE=1: libtorch asks for them for its blocks of 2 MiB or more)";
        }
        if (mode.equals("always")) {
            return "on (transparent huge pages: always)";
        }
        Matcher t = tunables == null ? null : TUNABLE.matcher(tunables);
        if (t != null && t.find() && !t.group(1).equals("0")) {
            return "on (GLIBC_TUNABLES=glibc.malloc.hugetlb=" + t.group(1) + ")";
        }
        return "off (transparent huge pages: " + mode + "; THP_MEM_ALLOC_ENABLE=1 in the environment before the JVM "
                + "starts has libtorch ask for them, for fewer page faults and a lower peak: docs/performance.md, "
                + "\"Page faults\")";
    }
}
