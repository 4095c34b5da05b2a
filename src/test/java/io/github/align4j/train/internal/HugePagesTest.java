package io.github.align4j.train.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** What bench says about huge pages, for each kernel mode, libtorch's switch and glibc's tunable. */
class HugePagesTest {
    static final String MADVISE = "always [madvise] never\n";

    @Test
    void readsTheKernelModeLibtorchsSwitchAndTheGlibcTunable() {
        assertEquals("on (GLIBC_TUNABLES=glibc.malloc.hugetlb=1)", HugePages.describe("glibc.malloc.hugetlb=1", null, MADVISE));
        assertEquals("on (GLIBC_TUNABLES=glibc.malloc.hugetlb=2)",
                HugePages.describe("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2", null, MADVISE));
        String libtorch = "on (THP_MEM_ALLOC_ENABLE=1: libtorch asks for them for its blocks of 2 MiB or more)";
        assertEquals(libtorch, HugePages.describe(null, "1", MADVISE));
        assertEquals(libtorch, HugePages.describe("glibc.malloc.hugetlb=1", "1", MADVISE), "libtorch's switch named first");
        assertEquals(libtorch, HugePages.describe(null, "1", "[always] madvise never"));
        String off = HugePages.describe(null, null, MADVISE);
        assertTrue(off.startsWith("off (transparent huge pages: madvise; THP_MEM_ALLOC_ENABLE=1 in the environment before "
                + "the JVM starts"), off);
        assertTrue(HugePages.describe(null, "0", MADVISE).startsWith("off"));
        assertTrue(HugePages.describe(null, "true", MADVISE).startsWith("off"), "libtorch reads \"1\" only");
        assertTrue(HugePages.describe("glibc.malloc.hugetlb=0", null, MADVISE).startsWith("off"));
        assertTrue(HugePages.describe("glibc.malloc.xhugetlb=1", null, MADVISE).startsWith("off"), "another tunable's name");
        assertEquals("on (transparent huge pages: always)", HugePages.describe(null, null, "[always] madvise never"));
        assertEquals("off (transparent huge pages are disabled on this system)",
                HugePages.describe("glibc.malloc.hugetlb=1", "1", "always madvise [never]"));
        assertTrue(HugePages.describe(null, null, null).startsWith("unknown"));
        assertTrue(HugePages.describe().length() > 0, "this machine's answer");
    }

    @Test
    void libtorchAdvisesOnlyWithItsSwitchOnAndHugePagesAvailable() {
        assertTrue(HugePages.libtorchAdvises("1", MADVISE));
        assertTrue(HugePages.libtorchAdvises("1", "[always] madvise never"));
        assertFalse(HugePages.libtorchAdvises("1", "always madvise [never]"));
        assertFalse(HugePages.libtorchAdvises("1", null), "no kernel setting to read");
        assertFalse(HugePages.libtorchAdvises("0", MADVISE));
        assertFalse(HugePages.libtorchAdvises(null, MADVISE));
        assertFalse(HugePages.libtorchAdvises(), "the tests run with THP_MEM_ALLOC_ENABLE=0 (pom.xml)");
    }
}
