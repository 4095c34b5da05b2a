package io.github.align4j.cli;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * SIGINT and SIGTERM during training: the first asks the trainer to finish its step and write a
 * checkpoint ({@code PreferenceRun.requestStop}); {@code train} then exits with 128 + the
 * signal's number (130, 143). A second one exits at once, without a checkpoint (the last complete
 * one stays). A JVM shutdown hook could not do this: it runs after the JVM has decided to exit and
 * cannot choose the exit code, so the handlers replace the JVM's for as long as training runs.
 */
final class StopSignals implements AutoCloseable {
    private final Map<Signal, SignalHandler> previous = new LinkedHashMap<>();
    private final java.util.function.Consumer<String> stop;
    private final PrintWriter err;
    private volatile String received;
    private volatile int exitCode;

    private StopSignals(java.util.function.Consumer<String> stop, PrintWriter err) {
        this.stop = stop;
        this.err = err;
    }

    /** @param stop asks the run to stop after its step (given the signal's name) */
    static StopSignals install(java.util.function.Consumer<String> stop, PrintWriter err) {
        StopSignals s = new StopSignals(stop, err);
        for (String name : new String[] {"INT", "TERM"}) {
            try {
                Signal sig = new Signal(name);
                s.previous.put(sig, Signal.handle(sig, s::onSignal));
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                // unknown on this platform, or reserved by the JVM (-Xrs): keep the default behaviour
            }
        }
        return s;
    }

    private void onSignal(Signal sig) {
        int code = 128 + sig.getNumber();
        String name = "SIG" + sig.getName();
        if (received == null) {
            received = name;
            exitCode = code;
            stop.accept(name);
            err.println();
            err.println("received " + name + ": finishing the current step, then writing a checkpoint "
                    + "(send it again to exit at once without one)");
            err.flush();
        } else {
            err.println("received " + name + " again: exiting now; the last complete checkpoint is kept");
            err.flush();
            Runtime.getRuntime().halt(code);
        }
    }

    /** "SIGINT" or "SIGTERM" when one arrived, else null. */
    String received() {
        return received;
    }

    /** 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM. */
    int exitCode() {
        return exitCode;
    }

    @Override
    public void close() {
        previous.forEach((sig, h) -> {
            try {
                Signal.handle(sig, h);
            } catch (IllegalArgumentException e) {
                // leave ours in place
            }
        });
    }
}
