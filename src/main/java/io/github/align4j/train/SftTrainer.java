package io.github.align4j.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import io.github.align4j.Align4jException;
import io.github.align4j.loss.Scalars;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.Offline;
import io.github.align4j.model.SequenceScorer;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Supervised fine-tuning (next-token NLL over completion tokens only, or over all tokens when
 * completionStart is 0) with the same AdamW/schedule/clipping as PreferenceTrainer; deterministic on
 * CPU.
 *
 * <p>The loss of a micro-batch is the mean NLL per target token over the whole micro-batch (TRL's
 * SFTTrainer), divided by {@code gradient_accumulation_steps}; gradients are clipped to
 * {@code max_grad_norm} by global norm and AdamW (no decay on biases and norms) steps with the
 * warmup + cosine/linear/constant schedule. The usual first step of SFT before DPO, and the way
 * to give a random model something to align in tests and demos.
 */
public final class SftTrainer {
    static {
        Offline.ensure();
    }

    private SftTrainer() {}

    /**
     * One training sequence.
     *
     * @param ids prompt + completion token ids (EOS included when the model should learn to stop)
     * @param completionStart index of the first token that is a target; 0 trains on every token
     *     (the first has no predecessor and is never a target)
     */
    public record Example(int[] ids, int completionStart) {
        public Example {
            if (ids == null || ids.length < 2) {
                throw new Align4jException("an SFT example needs at least 2 tokens, got "
                        + (ids == null ? "none" : ids.length));
            }
            if (completionStart < 0 || completionStart >= ids.length) {
                throw new Align4jException("an SFT example's completionStart must be in [0, " + (ids.length - 1) + "], got "
                        + completionStart + ": the completion would be empty");
            }
        }
    }

    /**
     * Trains model in place; returns the mean loss of each logged window (or per step). Uses
     * TrainConfig keys learning_rate, lr_scheduler_type, warmup_ratio/steps,
     * num_train_epochs/max_steps, per_device_train_batch_size, gradient_accumulation_steps,
     * max_grad_norm, weight_decay, seed, shuffle, logging_steps. A window closes every
     * {@code logging_steps} optimizer steps and at the last step; its value is the token-weighted
     * mean NLL of its micro-batches.
     *
     * @param console progress lines, or null for none
     */
    public static List<Double> train(CausalLM model, List<Example> data, TrainConfig cfg, PrintStream console) {
        cfg.validated();
        if (!model.trainable()) {
            throw new Align4jException("SFT needs a model loaded with CausalLM.Options.training()");
        }
        if (data.isEmpty()) {
            throw new Align4jException("the SFT data is empty");
        }
        long total = totalSteps(data.size(), cfg);
        Schedule schedule = Schedule.of(cfg, total);
        Map<String, NDArray> params = model.parameters();
        AdamW opt = new AdamW(params, cfg.adamBeta1(), cfg.adamBeta2(), cfg.adamEpsilon(), cfg.weightDecay());
        List<Double> logged = new ArrayList<>();
        double windowNll = 0;
        double windowTokens = 0;
        int epoch = 0;
        List<int[]> batches = epochBatches(data, cfg, epoch);
        int next = 0;
        long start = System.nanoTime();
        try {
            for (long step = 0; step < total; step++) {
                double lr = schedule.at(step);
                float norm;
                boolean finite = true;
                try (NDManager mgr = model.manager().newSubManager(); NDScope scope = new NDScope()) {
                    for (int k = 0; k < cfg.gradientAccumulationSteps(); k++) {
                        if (next == batches.size()) {
                            batches = epochBatches(data, cfg, ++epoch);
                            next = 0;
                        }
                        int[] rows = batches.get(next++);
                        int[][] seqs = new int[rows.length][];
                        int[] starts = new int[rows.length];
                        for (int i = 0; i < rows.length; i++) {
                            seqs[i] = data.get(rows[i]).ids();
                            starts[i] = data.get(rows[i]).completionStart();
                        }
                        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                            SequenceScorer.Scores sc = SequenceScorer.score(model, mgr, seqs, starts);
                            NDArray tokens = sc.tokens().sum();
                            NDArray loss = sc.logps().sum().neg().div(tokens);
                            gc.backward(Scalars.divide(loss, cfg.gradientAccumulationSteps()));
                            double t = tokens.getFloat();
                            double l = loss.getFloat();
                            finite &= Double.isFinite(l);
                            windowNll += l * t;
                            windowTokens += t;
                        }
                    }
                    norm = Gradients.norm(params);
                }
                if (finite && Float.isFinite(norm)) {
                    opt.step(lr, Gradients.clipScale(norm, cfg.maxGradNorm()));
                } else if (console != null) {
                    console.println("warning: SFT step " + (step + 1) + ": non-finite loss or gradient; update skipped");
                }
                Gradients.zero(params);
                long done = step + 1;
                if (done % cfg.loggingSteps() == 0 || done == total) {
                    double mean = windowTokens == 0 ? Double.NaN : windowNll / windowTokens;
                    logged.add(mean);
                    if (console != null) {
                        console.println(String.format(Locale.ROOT, "sft step %d/%d  loss %.4f  lr %.3g  grad_norm %.3f  %.1fs",
                                done, total, mean, lr, norm, (System.nanoTime() - start) / 1e9));
                    }
                    windowNll = 0;
                    windowTokens = 0;
                }
            }
        } finally {
            // the moments live on the model's manager: free them, or every call would leave 2 arrays per weight
            opt.firstMoments().values().forEach(NDArray::close);
            opt.secondMoments().values().forEach(NDArray::close);
        }
        return logged;
    }

    /** Optimizer steps of a run over n examples. */
    static long totalSteps(int n, TrainConfig cfg) {
        if (cfg.maxSteps() > 0) {
            return cfg.maxSteps();
        }
        long microPerEpoch = (n + cfg.batchSize() - 1) / cfg.batchSize();
        return Math.max(1, (long) Math.ceil(cfg.numTrainEpochs() * microPerEpoch / cfg.gradientAccumulationSteps()));
    }

    private static List<int[]> epochBatches(List<Example> data, TrainConfig cfg, int epoch) {
        return Batches.epoch(data.size(), cfg.batchSize(), cfg.seed(), epoch, cfg.shuffle(), cfg.groupByLength(),
                i -> data.get(i).ids().length);
    }
}
