package io.github.align4j.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.github.align4j.Align4jException;
import io.github.align4j.model.CausalLM;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The optimizer step both trainers share: micro-batches of gradient accumulation (fewer at the end
 * of an epoch, see {@link Position}) inside one
 * {@link NDScope} (native memory stays flat), the gradients' global norm, an AdamW update with the
 * clipping folded in (skipped when the loss or the norm is not finite), and zeroed gradients.
 */
final class TrainLoop implements AutoCloseable {
    /** One micro-batch: forward, loss and backward of {@code loss / divisor}; false when the loss was not finite. */
    @FunctionalInterface
    interface Micro {
        boolean run(NDManager mgr, int[] rows, int divisor);
    }

    /** What a step did. */
    record Step(double learningRate, float gradNorm, boolean updated, List<int[]> rows) {}

    /** The training running in this JVM, or null. */
    private static final AtomicReference<Exclusive> RUNNING = new AtomicReference<>();

    /** Held while a training runs; released on close. */
    static final class Exclusive implements AutoCloseable {
        private final String who;

        private Exclusive(String who) {
            this.who = who;
        }

        @Override
        public void close() {
            RUNNING.compareAndSet(this, null);
        }
    }

    /**
     * Claims the JVM's one training slot: DJL's PyTorch engine allows a single open gradient
     * collector per JVM, so a second training at the same time would fail deep inside DJL.
     *
     * @throws Align4jException while another training runs in this JVM
     */
    static Exclusive exclusive(String what) {
        Exclusive mine = new Exclusive(what + " on thread '" + Thread.currentThread().getName() + "'");
        Exclusive other = RUNNING.compareAndExchange(null, mine);
        if (other != null) {
            throw new Align4jException("another training is running in this JVM: " + other.who
                    + ". DJL's PyTorch engine allows one gradient collector per JVM, so align4j trains one model at a "
                    + "time per JVM: wait for that training to finish (run trainings one after another), or train in "
                    + "another process.");
        }
        return mine;
    }

    private final CausalLM model;
    private final TrainConfig cfg;
    private final Schedule schedule;
    final Map<String, NDArray> params;
    final AdamW optimizer;

    TrainLoop(CausalLM model, TrainConfig cfg, long totalSteps) {
        this.model = model;
        this.cfg = cfg;
        this.schedule = Schedule.of(cfg, totalSteps);
        this.params = model.trainableParameters(); // LoRA: the adapters only; the frozen base gets no gradient or state
        model.gradientCheckpointing(cfg.model().gradientCheckpointing());
        this.optimizer = new AdamW(params, cfg.optimization().adamBeta1(), cfg.optimization().adamBeta2(), cfg.optimization().adamEpsilon(), cfg.optimization().weightDecay());
    }

    /** Optimizer steps of a run over n examples ({@link Position#totalSteps}). */
    static long totalSteps(long n, TrainConfig cfg) {
        return Position.totalSteps(n, cfg.optimization().batchSize(), cfg.optimization().gradientAccumulationSteps(), cfg.optimization().numTrainEpochs(), cfg.optimization().maxSteps());
    }

    /**
     * The micro-batches of the next optimizer step, taken from pos: {@code gradient_accumulation_steps}
     * of them, or what is left of the epoch (a shorter last step; never rows of two epochs).
     */
    static List<int[]> nextStep(Position pos, int accumulation) {
        int k = pos.stepSize(accumulation);
        List<int[]> rows = new ArrayList<>(k);
        for (int i = 0; i < k; i++) {
            rows.add(pos.nextBatch());
        }
        return rows;
    }

    /** Runs optimizer step {@code step} (0-based) over the next micro-batches of pos. */
    Step step(long step, Position pos, Micro micro) {
        double lr = schedule.at(step);
        boolean finite = true;
        float gradNorm;
        List<int[]> rows = nextStep(pos, cfg.optimization().gradientAccumulationSteps());
        try (NDManager mgr = model.manager().newSubManager(); NDScope scope = new NDScope()) {
            for (int i = 0; i < rows.size(); i++) {
                // LoRA dropout masks drawn from (seed, step, micro-batch) alone: a resumed run draws the same
                model.setDropoutKey(cfg.optimization().seed() * 1_000_003L + step * 1_009L + i);
                // each micro-batch's mean loss over the micro-batches this step really has (a short
                // last step of an epoch too): transformers' current_gradient_accumulation_steps
                finite &= micro.run(mgr, rows.get(i), rows.size());
            }
            gradNorm = Gradients.norm(params);
        }
        finite &= Float.isFinite(gradNorm);
        if (finite) {
            optimizer.step(lr, Gradients.clipScale(gradNorm, cfg.optimization().maxGradNorm())); // clipping folded into the update: no pass over the gradients
        }
        Gradients.zero(params);
        return new Step(lr, gradNorm, finite, rows);
    }

    @Override
    public void close() {
        optimizer.close();
    }
}
