package io.github.align4j.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** The library turns telemetry off only where the application has not decided, and never touches offline mode. */
class OfflineTest {
    @Test
    void setsTheOptOutOnlyWhenNeitherEnvironmentNorPropertyIsSet() {
        assertEquals("true", Offline.optOutToSet(null, null));
        assertNull(Offline.optOutToSet("true", null));
        assertNull(Offline.optOutToSet("false", null), "the user's environment variable stands");
        assertNull(Offline.optOutToSet(null, "false"), "the user's property stands");
        assertNull(Offline.optOutToSet(null, ""));
    }

    @Test
    void neverOverridesPropertiesTheUserSet() {
        String tracking = System.getProperty("OPT_OUT_TRACKING");
        String offline = System.getProperty("ai.djl.offline");
        try {
            System.setProperty("OPT_OUT_TRACKING", "false");
            System.setProperty("ai.djl.offline", "false");
            Offline.ensure();
            assertEquals("false", System.getProperty("OPT_OUT_TRACKING"));
            assertEquals("false", System.getProperty("ai.djl.offline"));

            System.clearProperty("ai.djl.offline");
            Offline.ensure();
            assertNull(System.getProperty("ai.djl.offline"), "the library never sets offline mode");

            System.clearProperty("OPT_OUT_TRACKING");
            Offline.ensure();
            // Surefire exports OPT_OUT_TRACKING=true; without it the library sets the property itself.
            assertEquals(System.getenv("OPT_OUT_TRACKING") == null ? "true" : null, System.getProperty("OPT_OUT_TRACKING"));
        } finally {
            restore("OPT_OUT_TRACKING", tracking);
            restore("ai.djl.offline", offline);
        }
    }

    static void restore(String key, String value) {
        if (value == null) {
            System.clearProperty(key);
        } else {
            System.setProperty(key, value);
        }
    }
}
