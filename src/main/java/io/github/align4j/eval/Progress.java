package io.github.align4j.eval;

import java.io.PrintStream;
import java.util.Locale;

/**
 * An ASCII progress bar over a known number of units (optimizer steps of a whole grid): redrawn
 * in place on a terminal, and printed as a line every 10% otherwise (logs, CI).
 */
final class Progress {
    private final PrintStream out;
    private final boolean tty;
    private final long started = System.nanoTime();
    private long total;
    private long done;
    private int lastDecile = -1;
    private String label = "";
    private boolean drawn;

    Progress(PrintStream out, long total) {
        this.out = out;
        this.total = Math.max(1, total);
        this.tty = out != null && out == System.err && System.console() != null;
    }

    void label(String l) {
        label = l;
        draw(false);
    }

    void advance(long n) {
        done = Math.min(total, done + n);
        draw(false);
    }

    /** Skips units (a resumed cell) without counting them in the ETA's rate. */
    void skip(long n) {
        advance(n);
    }

    /** Prints a line above the bar (a finished cell), then redraws the bar. */
    void println(String line) {
        if (out == null) {
            return;
        }
        if (tty && drawn) {
            out.print("\r\033[2K");
        }
        out.println(line);
        drawn = false;
        draw(true);
    }

    void finish() {
        if (out != null && tty && drawn) {
            out.println();
        }
    }

    String bar() {
        int width = 30;
        int filled = (int) (width * done / total);
        double elapsed = (System.nanoTime() - started) / 1e9;
        double eta = done == 0 ? 0 : elapsed / done * (total - done);
        return String.format(Locale.ROOT, "[%s%s] %3d%% %s elapsed, ~%s left  %s", "#".repeat(filled),
                "-".repeat(width - filled), 100 * done / total, clock(elapsed), clock(eta), label);
    }

    private void draw(boolean force) {
        if (out == null) {
            return;
        }
        if (tty) {
            out.print("\r\033[2K" + bar());
            out.flush();
            drawn = true;
            return;
        }
        int decile = (int) (10 * done / total);
        if (decile != lastDecile || force && done == 0) {
            lastDecile = decile;
            out.println(bar());
        }
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
