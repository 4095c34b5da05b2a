package io.github.align4j.train;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The console progress line of {@link PreferenceTrainer.Builder#console}: step/total, elapsed,
 * ETA and the headline metrics of the last logged window and evaluation; redrawn in place on a
 * terminal, one line per logged step otherwise. A listener of the trainer.
 */
final class ConsoleProgress implements TrainingListener {
    private final PrintStream console;
    private final boolean tty;
    private final long started = System.nanoTime();
    private final long stepsBefore;
    private long total;
    private Map<String, Object> lastTrain;
    private Map<String, Object> lastEval;
    private long loggedAt = -1;

    /**
     * @param stepsBefore steps done before this process (a resume): the ETA counts only this process's
     * @param lastTrain the last training record of a resumed run's history (or null)
     * @param lastEval the last evaluation record of it (or null)
     */
    ConsoleProgress(PrintStream console, long stepsBefore, Map<String, Object> lastTrain, Map<String, Object> lastEval) {
        this.console = console;
        this.tty = System.console() != null && console == System.err;
        this.stepsBefore = stepsBefore;
        this.lastTrain = lastTrain;
        this.lastEval = lastEval;
    }

    @Override
    public void onTrainBegin(PreferenceTrainer trainer, long totalSteps) {
        total = totalSteps;
    }

    @Override
    public void onLog(Map<String, Object> record) {
        if (record.containsKey("learning_rate")) {
            lastTrain = record;
            if (record.get("step") instanceof Number n) {
                loggedAt = n.longValue();
            }
        } else if (record.keySet().stream().anyMatch(k -> k.startsWith("eval_"))) {
            lastEval = record;
        }
    }

    @Override
    public void onStepEnd(long step, Map<String, Double> metrics) {
        Map<String, Object> shown = new LinkedHashMap<>();
        if (lastTrain != null) {
            shown.putAll(lastTrain);
        }
        if (lastEval != null) {
            shown.putAll(lastEval);
        }
        progress(step, total, shown, loggedAt == step);
    }

    /** Redraws the progress line: step/total, ETA and the headline metrics. */
    private void progress(long step, long total, Map<String, Object> last, boolean logged) {
        double elapsed = (System.nanoTime() - started) / 1e9;
        long here = step - stepsBefore; // steps this process took (a resumed run starts later)
        double eta = here <= 0 ? 0 : elapsed / here * (total - step);
        int width = 24;
        int done = total == 0 ? width : (int) (width * step / total);
        StringBuilder s = new StringBuilder();
        s.append('[').append("=".repeat(done)).append(done < width ? ">" : "").append(" ".repeat(Math.max(0, width - done - 1)))
                .append("] ").append(step).append('/').append(total).append(' ')
                .append(clock(elapsed)).append(" < ").append(clock(eta));
        if (last != null) {
            for (String k : new String[] {"loss", "rewards/accuracies", "rewards/margins", "kl", "eval_rewards/accuracies"}) {
                Object v = last.get(k);
                if (v instanceof Number n) {
                    s.append("  ").append(k).append(' ').append(String.format(Locale.ROOT, "%.4f", n.doubleValue()));
                }
            }
        }
        if (tty) {
            console.print("\r" + s);
            if (step == total) {
                console.println();
            }
        } else if (logged || step == total) {
            console.println(s);
        }
        console.flush();
    }

    private static String clock(double seconds) {
        long s = Math.round(seconds);
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
    }
}
