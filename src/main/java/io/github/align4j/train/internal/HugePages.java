package io.github.align4j.train.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Whether libtorch's large CPU blocks get transparent huge pages, for {@code bench} to say. glibc serves every block
 * above its mmap threshold (at most 32 MiB) with a fresh mapping, faulted in 4 KiB at a time; with huge pages a fault
 * maps 2 MiB. Measured on the 1.1B-shaped LoRA step (docs/performance.md, "Page faults"): 82.7 million faults and
 * 123.8 s a step without, 3.0 million and 106.6 s with {@code GLIBC_TUNABLES=glibc.malloc.hugetlb=1}. That is a
 * setting of the whole process, read by glibc when it starts, so align4j does not make it: it reports it.
 */
public final class HugePages {
    static final Path THP = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
    private static final Pattern SELECTED = Pattern.compile("\\[(\\w+)]");
    private static final Pattern TUNABLE = Pattern.compile("(?:^|:)glibc\\.malloc\\.hugetlb=(\\d+)");

    private HugePages() {}

    /** This process's state, from {@code GLIBC_TUNABLES} and the kernel's transparent huge page mode. */
    public static String describe() {
        String mode;
        try {
            mode = Files.isReadable(THP) ? Files.readString(THP) : null;
        } catch (IOException | SecurityException e) {
            mode = null;
        }
        return describe(System.getenv("GLIBC_TUNABLES"), mode);
    }

    /**
     * @param tunables the value of {@code GLIBC_TUNABLES}, or null
     * @param thpEnabled the contents of {@code /sys/kernel/mm/transparent_hugepage/enabled} (the mode in brackets), or
     *     null where there is none
     */
    static String describe(String tunables, String thpEnabled) {
        Matcher sel = thpEnabled == null ? null : SELECTED.matcher(thpEnabled);
        String mode = sel != null && sel.find() ? sel.group(1) : null;
        if (mode == null) {
            return "unknown (no transparent huge page setting to read)";
        }
        if (mode.equals("never")) {
            return "off (transparent huge pages are disabled on this system)";
        }
        if (mode.equals("always")) {
            return "on (transparent huge pages: always)";
        }
        Matcher t = tunables == null ? null : TUNABLE.matcher(tunables);
        if (t != null && t.find() && !t.group(1).equals("0")) {
            return "on (GLIBC_TUNABLES=glibc.malloc.hugetlb=" + t.group(1) + ")";
        }
        return "off (transparent huge pages: " + mode + "; GLIBC_TUNABLES=glibc.malloc.hugetlb=1 before the JVM starts "
                + "turns them on for libtorch's large blocks: docs/performance.md, \"Page faults\")";
    }
}
