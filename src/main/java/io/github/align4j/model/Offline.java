package io.github.align4j.model;

/**
 * Keeps DJL off the network. DJL calls a cloud metadata address at engine start and at every
 * tokenizer creation unless {@code OPT_OUT_TRACKING} and {@code ai.djl.offline} are set; every
 * align4j entry point calls {@link #ensure()} before it touches a DJL class.
 */
public final class Offline {
    static {
        set();
    }

    private Offline() {}

    /** Idempotent; the work is done by the class initializer. */
    public static void ensure() {
        // class initialisation already ran set()
    }

    private static void set() {
        // DJL reads both as environment variable or system property.
        System.setProperty("OPT_OUT_TRACKING", "true");
        System.setProperty("ai.djl.offline", "true");
    }
}
