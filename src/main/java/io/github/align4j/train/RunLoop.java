package io.github.align4j.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One call of {@link PreferenceTrainer#train()} after its checks: the restore of a checkpoint (or
 * the fresh start), the listeners of the run, and the loop over optimizer steps, offline and online,
 * with its logging, evaluations, checkpoints ({@link RunState}) and early stop. The trainer keeps
 * what outlives a call (the model, the data, the reference, the optimizer's {@link TrainLoop}).
 */
final class RunLoop {
    private static final Logger LOG = LoggerFactory.getLogger(PreferenceTrainer.class);

    private final PreferenceTrainer t;
    private final TrainConfig cfg;
    private final TrainLoop loop;
    private final long total;
    private MetricsLog log;
    private List<TrainingListener> listeners = List.of();

    RunLoop(PreferenceTrainer t, TrainLoop loop, long total) {
        this.t = t;
        this.cfg = t.cfg;
        this.loop = loop;
        this.total = total;
    }

    /** Trains from {@code from} (null: from the beginning) to the run's last step, or to a stop request. */
    PreferenceTrainer.TrainResult run(Checkpoints.Found from) {
        Window w = new Window();
        Position pos = new Position(t::epochBatches);
        long start = 0;
        if (from != null) {
            RunState.Restored r = t.state.restore(from, loop.params, loop.optimizer, pos, w, t::say);
            start = r.step();
            log = MetricsLog.resumed(t.output, r.history(), r.elapsed());
            t.say("resume: continuing from " + from.dir() + " at step " + start + " of " + total);
        } else {
            log = new MetricsLog(t.output, false);
        }
        Map<String, Object> lastTrain = RunState.lastRecord(log.history(), false);
        Map<String, Object> lastEval = RunState.lastRecord(log.history(), true);
        List<TrainingListener> all = new ArrayList<>();
        all.add(log);
        long trainableCount = 0;
        for (ai.djl.ndarray.NDArray a : t.policy.trainableParameters().values()) {
            trainableCount += a.size();
        }
        Batching train = t.train;
        all.add(new LogLines(train.size() + (train instanceof OnlineBatches ? " prompts" : train instanceof PairedBatches ? " pairs" : " examples"), cfg, trainableCount,
                t.policy.adapterConfig() != null ? t.policy.parameterCount() + trainableCount : t.policy.parameterCount(),
                t.policy.device().toString(), () -> t.tokensSeen));
        if (t.console != null) {
            all.add(new ConsoleProgress(t.console, start, lastTrain, lastEval));
        }
        all.addAll(t.userListeners);
        listeners = all;
        listeners.forEach(l -> l.onTrainBegin(t, total));
        long saved = from == null ? -1 : start;
        Batching.Scoring scoring = t.scoring();
        try {
            if (start >= total && from != null && from.dir().getFileName().toString().equals(Checkpoints.FINAL)) {
                t.say("resume: " + from.dir() + " is the end of this run (step " + start + " of " + total + "); nothing to train");
                return end(new PreferenceTrainer.TrainResult(start, pos.epochs(), lastTrain, lastEval, List.copyOf(log.history()),
                        from.dir(), false));
            }
            for (long step = start; step < total; step++) {
                long stepStart = System.nanoTime();
                Window sw = new Window();
                if (train instanceof OnlineBatches ob) {
                    ob.beginStep(step);
                }
                TrainLoop.Step st = loop.step(step, pos, (mgr, rows, divisor) -> train.train(scoring, mgr, rows, sw, divisor));
                long stepDone = step + 1;
                t.state.stepEnded(st, stepDone, t::say, this::emitLog, () -> save("checkpoint-" + stepDone, stepDone, pos, w));
                if (t.stepRows != null) {
                    t.stepRows.accept(step + 1, st.rows());
                }
                t.tokensSeen += sw.tokens;
                if (t.onStep != null) {
                    t.onStep.step(step + 1, (System.nanoTime() - stepStart) / 1e9, sw.tokens);
                }
                float gradNorm = st.gradNorm();
                sw.gradNorm += Float.isFinite(gradNorm) ? gradNorm : 0;
                sw.steps++;
                w.addAll(sw);
                long done = step + 1;
                if (cfg.reference().sync() && done % cfg.reference().syncSteps() == 0) {
                    t.reference.mixIn(cfg.reference().mixupAlpha()); // TR-DPO, as TRL's callback at the step's end
                }
                double epochs = pos.epochs();
                Map<String, Double> stepMetrics = numbers(sw.flush(st.learningRate(), done, epochs, log.elapsedSeconds()));
                boolean logNow = done % cfg.output().loggingSteps() == 0 || done == total || done == 1;
                if (logNow) {
                    lastTrain = w.flush(st.learningRate(), done, epochs, log.elapsedSeconds());
                    emitLog(lastTrain);
                }
                if ((cfg.output().evalSteps() > 0 && done % cfg.output().evalSteps() == 0 && done != total) || (done == total && t.hasEval())) {
                    if (t.hasEval()) {
                        LOG.info("evaluating at step {} on {} held-out {}", done, t.evalPairs != null ? t.evalPairs.size()
                                : t.evalUnpaired.size(), t.evalPairs != null ? "pairs" : "examples");
                        lastEval = new LinkedHashMap<>(t.evaluate());
                        lastEval.put("epoch", epochs);
                        lastEval.put("step", done);
                        emitLog(lastEval);
                        Map<String, Double> ev = numbers(lastEval);
                        listeners.forEach(l -> l.onEvaluate(done, ev));
                    }
                }
                if (cfg.output().saveSteps() > 0 && done % cfg.output().saveSteps() == 0 && done != total) {
                    save("checkpoint-" + done, done, pos, w);
                    saved = done;
                }
                listeners.forEach(l -> l.onStepEnd(done, stepMetrics));
                String stop = t.stopRequest;
                if (stop != null && done < total) {
                    Path at = t.output == null ? null
                            : saved == done ? t.output.resolve("checkpoint-" + done) : save("checkpoint-" + done, done, pos, w);
                    t.say("stopped by " + stop + " after step " + done + " of " + total
                            + (at == null ? " (no output folder: nothing saved)" : "; checkpoint: " + at));
                    return end(new PreferenceTrainer.TrainResult(done, epochs, lastTrain, lastEval, List.copyOf(log.history()),
                            at, true));
                }
            }
            long done = Math.max(start, total);
            Path fin = t.output != null ? save(Checkpoints.FINAL, done, pos, w) : null;
            return end(new PreferenceTrainer.TrainResult(done, pos.epochs(), lastTrain, lastEval, List.copyOf(log.history()),
                    fin, false));
        } finally {
            log.close();
            listeners = List.of();
        }
    }

    /** Writes a checkpoint ({@link RunState#saveCheckpoint}) and tells the listeners; null without an output. */
    private Path save(String name, long done, Position pos, Window w) {
        Path p = t.state.saveCheckpoint(name, done, pos, w, loop.optimizer, log);
        if (p != null) {
            listeners.forEach(l -> l.onCheckpoint(p));
        }
        return p;
    }

    private PreferenceTrainer.TrainResult end(PreferenceTrainer.TrainResult r) {
        listeners.forEach(l -> l.onTrainEnd(r));
        return r;
    }

    private void emitLog(Map<String, Object> record) {
        listeners.forEach(l -> l.onLog(record));
    }

    /** The numeric entries of a record, as doubles. */
    private static Map<String, Double> numbers(Map<String, Object> record) {
        Map<String, Double> m = new LinkedHashMap<>();
        record.forEach((k, v) -> {
            if (v instanceof Number n) {
                m.put(k, n.doubleValue());
            }
        });
        return Collections.unmodifiableMap(m);
    }
}
