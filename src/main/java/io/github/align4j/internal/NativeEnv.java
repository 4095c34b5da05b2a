package io.github.align4j.internal;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;

/**
 * The process's own environment, as native libraries read it. The JVM's {@link System#getenv} is a copy taken at
 * start-up, and libtorch reads some switches ({@code THP_MEM_ALLOC_ENABLE}) from the C environment at its first
 * allocation. Reading is for everyone; {@link #setUnlessSet} is for the command line only, which owns its process
 * (the library never changes a host application's environment). Linux only (the platform whose natives align4j
 * ships); through the JNA that DJL brings and uses (not declared by align4j, so that an application pinning another
 * DJL gets that DJL's JNA, as the CUDA route of docs/cuda.md does).
 */
public final class NativeEnv {
    private NativeEnv() {}

    interface LibC extends Library {
        String getenv(String name);

        int setenv(String name, String value, int overwrite);
    }

    private static volatile LibC libc;
    private static volatile boolean tried;

    private static LibC libc() {
        if (!tried) {
            synchronized (NativeEnv.class) {
                if (!tried) {
                    try {
                        libc = Platform.isLinux() ? Native.load("c", LibC.class) : null;
                    } catch (Throwable e) { // no JNA native stub here (a read-only temp folder, another libc): fall back
                        libc = null;
                    }
                    tried = true;
                }
            }
        }
        return libc;
    }

    /** The variable's value in the C environment, or the JVM's copy where the C library cannot be reached; null if unset. */
    public static String get(String name) {
        LibC c = libc();
        if (c != null) {
            try {
                return c.getenv(name);
            } catch (Throwable e) {
                // fall through to the JVM's copy
            }
        }
        return System.getenv(name);
    }

    /**
     * Sets {@code name=value} in the C environment unless the variable is set (to anything: a user's choice stands).
     * For the command line's start, before any native library reads it and before other threads run native code.
     *
     * @return whether this call set it
     */
    public static boolean setUnlessSet(String name, String value) {
        LibC c = libc();
        if (c == null) {
            return false;
        }
        try {
            return c.getenv(name) == null && c.setenv(name, value, 0) == 0 && value.equals(c.getenv(name));
        } catch (Throwable e) {
            return false;
        }
    }
}
