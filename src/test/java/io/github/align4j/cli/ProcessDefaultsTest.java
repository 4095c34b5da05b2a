package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The command line runs DJL offline by default, and a user's -Dai.djl.offline=false lets it download. */
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

    private static void restore(String key, String value) {
        if (value == null) {
            System.clearProperty(key);
        } else {
            System.setProperty(key, value);
        }
    }
}
