package io.github.align4j.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.training.GradientCollector;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Scalars;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.SequenceScorer;
import io.github.align4j.train.internal.Batches;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Supervised fine-tuning (next-token NLL over completion tokens only, or over all tokens when
 * completionStart is 0) with the same AdamW/schedule/clipping as PreferenceTrainer; deterministic on
 * CPU.
 *
 * <p>The loss of a micro-batch is the mean NLL per target token over the whole micro-batch (TRL's
 * SFTTrainer), divided by the micro-batches of its optimizer step ({@code gradient_accumulation_steps},
 * fewer in an epoch's last step); gradients are clipped to
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
        if (!model.hasTrainableWeights()) {
            throw new Align4jException("SFT needs a model loaded with CausalLM.Options.training()");
        }
        if (data.isEmpty()) {
            throw new Align4jException("the SFT data is empty");
        }
        long total = totalSteps(data.size(), cfg);
        List<Double> logged = new ArrayList<>();
        double[] window = new double[2]; // NLL × tokens, tokens
        Position pos = new Position(epoch -> epochBatches(data, cfg, epoch));
        long start = System.nanoTime();
        try (TrainLoop.Exclusive one = TrainLoop.exclusive("an SftTrainer"); TrainLoop loop = new TrainLoop(model, cfg, total)) {
            TrainLoop.Micro micro = (mgr, rows, divisor) -> {
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
                    model.backward(Scalars.divide(loss, divisor)); // recomputes checkpointed layers
                    double t = tokens.getFloat();
                    double l = loss.getFloat();
                    window[0] += l * t;
                    window[1] += t;
                    return Double.isFinite(l);
                }
            };
            for (long step = 0; step < total; step++) {
                TrainLoop.Step st = loop.step(step, pos, micro);
                if (!st.updated() && console != null) {
                    console.println("warning: SFT step " + (step + 1) + ": non-finite loss or gradient; update skipped");
                }
                long done = step + 1;
                if (done % cfg.output().loggingSteps() == 0 || done == total) {
                    double mean = window[1] == 0 ? Double.NaN : window[0] / window[1];
                    logged.add(mean);
                    if (console != null) {
                        console.println(String.format(Locale.ROOT, "sft step %d/%d  loss %.4f  lr %.3g  grad_norm %.3f  %.1fs",
                                done, total, mean, st.learningRate(), st.gradNorm(), (System.nanoTime() - start) / 1e9));
                    }
                    window[0] = 0;
                    window[1] = 0;
                }
            }
        }
        return logged;
    }

    /** Optimizer steps of a run over n examples. */
    static long totalSteps(int n, TrainConfig cfg) {
        return TrainLoop.totalSteps(n, cfg);
    }

    private static List<int[]> epochBatches(List<Example> data, TrainConfig cfg, int epoch) {
        return Batches.epoch(data.size(), cfg.optimization().batchSize(), cfg.optimization().seed(), epoch, cfg.optimization().shuffle(), cfg.optimization().groupByLength(),
                i -> data.get(i).ids().length);
    }
}
