package io.github.align4j.train.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** What bench says about huge pages, for each kernel mode and glibc tunable. */
class HugePagesTest {
    @Test
    void readsTheKernelModeAndTheGlibcTunable() {
        String madvise = "always [madvise] never\n";
        assertEquals("on (GLIBC_TUNABLES=glibc.malloc.hugetlb=1)", HugePages.describe("glibc.malloc.hugetlb=1", madvise));
        assertEquals("on (GLIBC_TUNABLES=glibc.malloc.hugetlb=2)",
                HugePages.describe("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2", madvise));
        assertTrue(HugePages.describe(null, madvise).startsWith("off (transparent huge pages: madvise; "
                + "GLIBC_TUNABLES=glibc.malloc.hugetlb=1 before the JVM starts"));
        assertTrue(HugePages.describe("glibc.malloc.hugetlb=0", madvise).startsWith("off"));
        assertTrue(HugePages.describe("glibc.malloc.xhugetlb=1", madvise).startsWith("off"), "another tunable's name");
        assertEquals("on (transparent huge pages: always)", HugePages.describe(null, "[always] madvise never"));
        assertEquals("off (transparent huge pages are disabled on this system)",
                HugePages.describe("glibc.malloc.hugetlb=1", "always madvise [never]"));
        assertTrue(HugePages.describe(null, null).startsWith("unknown"));
        assertTrue(HugePages.describe().length() > 0, "this machine's answer");
    }
}
