package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.internal.NativeEnv;
import io.github.align4j.train.internal.HugePages;

import org.junit.jupiter.api.Test;

/**
 * The command line runs DJL offline by default, and a user's -Dai.djl.offline=false lets it download; it turns on
 * libtorch's huge pages unless the user chose.
 */
class ProcessDefaultsTest {
    @Test
    void offlineByDefaultButTheUsersChoiceStands() {
        String offline = System.getProperty("ai.djl.offline");
        String headless = System.getProperty("java.awt.headless");
        try {
            System.setProperty("ai.djl.offline", "false");
            System.setProperty("java.awt.headless", "false");
            Main.processDefaults();
            assertEquals("false", System.getProperty("ai.djl.offline"), "-Dai.djl.offline=false allows downloads");
            assertEquals("false", System.getProperty("java.awt.headless"));

            System.clearProperty("ai.djl.offline");
            System.clearProperty("java.awt.headless");
            Main.processDefaults();
            // DJL reads DJL_OFFLINE before the property: when the user exported it, it decides.
            assertEquals(System.getenv("DJL_OFFLINE") == null ? "true" : null, System.getProperty("ai.djl.offline"));
            assertEquals("true", System.getProperty("java.awt.headless"));
        } finally {
            restore("ai.djl.offline", offline);
            restore("java.awt.headless", headless);
        }
    }

    /**
     * libtorch's huge-page switch: set in the C environment (where libtorch reads it) unless the user chose. The tests
     * run with THP_MEM_ALLOC_ENABLE=0 (pom.xml), so the choice stands here; a variable nobody set is set.
     */
    @Test
    void hugePagesForLibtorchUnlessTheUserChose() {
        assertEquals("0", NativeEnv.get(HugePages.LIBTORCH_SWITCH), "pom.xml's choice");
        Main.processDefaults();
        assertEquals("0", NativeEnv.get(HugePages.LIBTORCH_SWITCH), "a user's value stands");
        assertFalse(HugePages.libtorchAdvises());

        String fresh = "ALIGN4J_TEST_" + ProcessHandle.current().pid() + "_" + System.nanoTime();
        assertNull(NativeEnv.get(fresh));
        assertTrue(NativeEnv.setUnlessSet(fresh, "1"), "set where unset");
        assertEquals("1", NativeEnv.get(fresh), "read back from the C environment, not the JVM's start-up copy");
        assertNull(System.getenv(fresh), "which the JVM does not see");
        assertFalse(NativeEnv.setUnlessSet(fresh, "2"), "never overwritten");
        assertEquals("1", NativeEnv.get(fresh));
        assertEquals(System.getenv("PATH"), NativeEnv.get("PATH"), "what the JVM saw at start-up, the same");
    }

    private static void restore(String key, String value) {
        if (value == null) {
            System.clearProperty(key);
        } else {
            System.setProperty(key, value);
        }
    }
}
