package io.github.align4j.internal;

/**
 * Keeps DJL's telemetry off without touching any other JVM-wide setting. DJL calls a cloud
 * metadata address at engine start and at every tokenizer creation unless {@code OPT_OUT_TRACKING}
 * is true; it reads it as an environment variable or, failing that, a system property. Every align4j
 * entry point calls {@link #ensure()} before it touches a DJL class: it sets the system property
 * {@code OPT_OUT_TRACKING=true} only when neither the environment variable nor the property is set,
 * so a value the application chose always stands.
 *
 * <p>The library never sets {@code ai.djl.offline}: an application that lets DJL download models or
 * natives keeps that ability. The command line (not the library) runs offline by default; see
 * docs/cli.md.
 */
public final class Offline {
    /** The name DJL reads, as an environment variable first and then as a system property. */
    static final String OPT_OUT_TRACKING = "OPT_OUT_TRACKING";

    private Offline() {}

    /** Turns DJL's telemetry off unless the application has set {@code OPT_OUT_TRACKING} itself. Idempotent. */
    public static void ensure() {
        synchronized (Offline.class) {
            String value = optOutToSet(System.getenv(OPT_OUT_TRACKING), System.getProperty(OPT_OUT_TRACKING));
            if (value != null) {
                System.setProperty(OPT_OUT_TRACKING, value);
            }
        }
    }

    /** The property value to set given the environment variable and the property (either may be null): null to leave both. */
    static String optOutToSet(String env, String property) {
        return env == null && property == null ? "true" : null;
    }
}
