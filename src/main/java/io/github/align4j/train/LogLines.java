package io.github.align4j.train;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a run says through SLF4J, as the Hugging Face Trainer users know it: a "Running training" block before the
 * first step, every {@code logging_steps} line with TRL's metric names, each evaluation and checkpoint, and the end
 * (time, tokens/s, where the result is). Logger {@code io.github.align4j.train.PreferenceTrainer}.
 */
final class LogLines implements TrainingListener {
    private static final Logger LOG = LoggerFactory.getLogger(PreferenceTrainer.class);

    private final String examples;
    private final TrainConfig cfg;
    private final long trainable;
    private final long total;
    private final String device;
    private final LongSupplier tokens;
    private long startNanos;

    LogLines(String examples, TrainConfig cfg, long trainable, long total, String device, LongSupplier tokens) {
        this.examples = examples;
        this.cfg = cfg;
        this.trainable = trainable;
        this.total = total;
        this.device = device;
        this.tokens = tokens;
    }

    @Override
    public void onTrainBegin(PreferenceTrainer trainer, long totalSteps) {
        startNanos = System.nanoTime();
        if (LOG.isInfoEnabled()) {
            LOG.info(String.format(Locale.ROOT, "***** Running training ***** %s, %s epochs, micro-batch %d, gradient "
                    + "accumulation %d, %d optimization steps, %,d of %,d parameters trainable, loss %s (β=%s), on %s",
                    examples, num(cfg.optimization().numTrainEpochs()), cfg.optimization().batchSize(), cfg.optimization().gradientAccumulationSteps(), totalSteps,
                    trainable, total, cfg.lossSpec().weights().isEmpty() ? cfg.lossSpec().type() : cfg.get("loss_weights"), num(cfg.lossSpec().beta()), device));
        }
    }

    @Override
    public void onLog(Map<String, Object> record) {
        if (LOG.isInfoEnabled()) {
            StringBuilder sb = new StringBuilder("{");
            record.forEach((k, v) -> sb.append(sb.length() > 1 ? ", " : "").append('\'').append(k).append("': ")
                    .append(v instanceof Double d ? String.format(Locale.ROOT, "%.6g", d) : String.valueOf(v)));
            LOG.info(sb.append('}').toString());
        }
    }

    @Override
    public void onCheckpoint(Path path) {
        LOG.info("saved {}", path);
    }

    @Override
    public void onTrainEnd(PreferenceTrainer.TrainResult r) {
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        long t = tokens.getAsLong();
        LOG.info(String.format(Locale.ROOT, "training %s: %d steps in %.1f s (%,.0f tokens/s); %s", r.stopped() ? "stopped"
                : "done", r.steps(), seconds, seconds > 0 ? t / seconds : 0.0,
                r.finalCheckpoint() == null ? "no output folder: nothing saved" : "result in " + r.finalCheckpoint()));
    }

    private static String num(double v) {
        return new java.math.BigDecimal(String.format(Locale.ROOT, "%.6g", v)).stripTrailingZeros().toPlainString();
    }
}
