package io.github.align4j.train;

import ai.djl.ndarray.NDArray;
import io.github.align4j.model.SequenceScorer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Running sums of the metrics between two log lines, averaged as TRL logs them.
 *
 * <ul>
 *   <li>Pairs (TRL's DPOTrainer, whose {@code log} averages the per-micro-batch means it stored):
 *       {@code rewards/*}, {@code logps/*} and {@code logits/*} are the mean over the window's
 *       micro-batches of each micro-batch's mean, so a short micro-batch weighs as much as a full
 *       one. Here the sums hold micro-batch means and the counts micro-batches.
 *   <li>Unpaired examples (TRL's current KTOTrainer, which logs summed values over counted
 *       examples): {@code rewards/chosen}, {@code logps/chosen}, … are per-example means over the
 *       whole window, {@code rewards/margins} their difference. Here the sums and counts are per
 *       example. (A window that mixes both, an evaluation given pairs and unpaired examples, adds
 *       each paired micro-batch's means as one example.)
 *   <li>{@code loss}: transformers' mean over the window's optimizer steps of each step's mean
 *       micro-batch loss ({@link #addAll} adds a step's mean as one value); within a step and in
 *       an evaluation, the mean over micro-batches. Loss metrics ({@code kl}, …): the mean over
 *       micro-batches.
 * </ul>
 */
final class Window {
    double loss;
    long lossCount;
    double rewardChosen;
    double rewardRejected;
    long chosenCount;
    long rejectedCount;
    double correct;
    long pairCount;
    double margin;
    double logpChosen;
    double logpRejected;
    double logitChosen;
    double logitRejected;
    double tokensChosen;
    double tokensRejected;
    double gradNorm;
    long steps;
    long tokens;
    long startNanos = System.nanoTime();
    final Map<String, double[]> extra = new LinkedHashMap<>();

    void addPaired(float lossValue, SequenceScorer.Scores sc, float[] ref, int b, double beta,
            Map<String, NDArray> metrics, long seqTokens) {
        float[] lp = sc.logps().toFloatArray();
        float[] ls = sc.logitSums().toFloatArray();
        float[] tk = sc.tokens().toFloatArray();
        addLoss(lossValue, metrics);
        double rcSum = 0;
        double rrSum = 0;
        double right = 0;
        double lpc = 0;
        double lpr = 0;
        double lsc = 0;
        double lsr = 0;
        double tkc = 0;
        double tkr = 0;
        for (int i = 0; i < b; i++) {
            double rc = beta * (lp[i] - (ref == null ? 0 : ref[i]));
            double rr = beta * (lp[b + i] - (ref == null ? 0 : ref[b + i]));
            rcSum += rc;
            rrSum += rr;
            right += rc > rr ? 1 : 0;
            lpc += lp[i];
            lpr += lp[b + i];
            lsc += ls[i];
            lsr += ls[b + i];
            tkc += tk[i];
            tkr += tk[b + i];
        }
        // this micro-batch's means, each counted once (TRL's DPOTrainer averages micro-batch means)
        rewardChosen += rcSum / b;
        rewardRejected += rrSum / b;
        margin += (rcSum - rrSum) / b;
        correct += right / b;
        logpChosen += lpc / b;
        logpRejected += lpr / b;
        if (tkc > 0) {
            logitChosen += lsc / tkc;
            tokensChosen++;
        }
        if (tkr > 0) {
            logitRejected += lsr / tkr;
            tokensRejected++;
        }
        chosenCount++;
        rejectedCount++;
        pairCount++;
        tokens += seqTokens;
    }

    void addUnpaired(float lossValue, SequenceScorer.Scores sc, float[] ref, float[] desirable, double beta,
            Map<String, NDArray> metrics, long seqTokens) {
        float[] lp = sc.logps().toFloatArray();
        float[] ls = sc.logitSums().toFloatArray();
        float[] tk = sc.tokens().toFloatArray();
        addLoss(lossValue, metrics);
        for (int i = 0; i < lp.length; i++) {
            double r = beta * (lp[i] - (ref == null ? 0 : ref[i]));
            if (desirable[i] > 0.5f) {
                rewardChosen += r;
                logpChosen += lp[i];
                logitChosen += ls[i];
                tokensChosen += tk[i];
                chosenCount++;
            } else {
                rewardRejected += r;
                logpRejected += lp[i];
                logitRejected += ls[i];
                tokensRejected += tk[i];
                rejectedCount++;
            }
        }
        tokens += seqTokens;
    }

    private void addLoss(float lossValue, Map<String, NDArray> metrics) {
        if (!Float.isNaN(lossValue)) {
            loss += lossValue;
            lossCount++;
        }
        for (Map.Entry<String, NDArray> e : metrics.entrySet()) {
            double[] acc = extra.computeIfAbsent(e.getKey(), k -> new double[2]);
            acc[0] += e.getValue().getFloat();
            acc[1]++;
        }
    }

    /**
     * Adds a step's window to this logging window: its loss as one value (the step's mean over its
     * micro-batches, as transformers logs the mean of the steps' losses), every other sum as is.
     */
    void addAll(Window o) {
        if (o.lossCount > 0) {
            loss += o.loss / o.lossCount;
            lossCount++;
        }
        rewardChosen += o.rewardChosen;
        rewardRejected += o.rewardRejected;
        chosenCount += o.chosenCount;
        rejectedCount += o.rejectedCount;
        correct += o.correct;
        pairCount += o.pairCount;
        margin += o.margin;
        logpChosen += o.logpChosen;
        logpRejected += o.logpRejected;
        logitChosen += o.logitChosen;
        logitRejected += o.logitRejected;
        tokensChosen += o.tokensChosen;
        tokensRejected += o.tokensRejected;
        gradNorm += o.gradNorm;
        steps += o.steps;
        tokens += o.tokens;
        o.extra.forEach((k, v) -> {
            double[] acc = extra.computeIfAbsent(k, x -> new double[2]);
            acc[0] += v[0];
            acc[1] += v[1];
        });
    }

    /** The averaged record (TRL's keys) and a reset. */
    Map<String, Object> flush(double lr, long step, double epoch, double elapsed) {
        Map<String, Object> r = MetricsLog.record();
        r.put("loss", lossCount == 0 ? Double.NaN : loss / lossCount);
        double rc = chosenCount == 0 ? Double.NaN : rewardChosen / chosenCount;
        double rr = rejectedCount == 0 ? Double.NaN : rewardRejected / rejectedCount;
        r.put("rewards/chosen", rc);
        r.put("rewards/rejected", rr);
        if (pairCount > 0) {
            r.put("rewards/accuracies", correct / pairCount);
            r.put("rewards/margins", margin / pairCount);
        } else {
            r.put("rewards/margins", rc - rr);
        }
        r.put("logps/chosen", chosenCount == 0 ? Double.NaN : logpChosen / chosenCount);
        r.put("logps/rejected", rejectedCount == 0 ? Double.NaN : logpRejected / rejectedCount);
        r.put("logits/chosen", tokensChosen == 0 ? Double.NaN : logitChosen / tokensChosen);
        r.put("logits/rejected", tokensRejected == 0 ? Double.NaN : logitRejected / tokensRejected);
        extra.forEach((k, v) -> r.put(k, v[0] / v[1]));
        if (step > 0) {
            double seconds = (System.nanoTime() - startNanos) / 1e9;
            r.put("learning_rate", lr);
            r.put("grad_norm", steps == 0 ? Double.NaN : gradNorm / steps);
            r.put("epoch", epoch);
            r.put("step", step);
            r.put("tokens_per_second", seconds > 0 ? tokens / seconds : 0.0);
            r.put("elapsed_s", elapsed);
        }
        reset();
        return r;
    }

    /** The running sums, for a checkpoint (timing excluded). */
    Map<String, Object> save() {
        Map<String, Object> m = new LinkedHashMap<>();
        double[] d = {loss, rewardChosen, rewardRejected, correct, margin, logpChosen, logpRejected, logitChosen,
            logitRejected, tokensChosen, tokensRejected, gradNorm};
        long[] l = {lossCount, chosenCount, rejectedCount, pairCount, steps, tokens};
        m.put("sums", d);
        m.put("counts", l);
        Map<String, double[]> x = new LinkedHashMap<>();
        extra.forEach((k, v) -> x.put(k, v.clone()));
        m.put("extra", x);
        return m;
    }

    /** Restores {@link #save()}'s sums (absent: empty). */
    void load(com.fasterxml.jackson.databind.JsonNode n) {
        reset();
        if (n == null || !n.isObject()) {
            return;
        }
        double[] d = new double[12];
        long[] l = new long[6];
        for (int i = 0; i < d.length; i++) {
            d[i] = n.path("sums").path(i).asDouble();
        }
        for (int i = 0; i < l.length; i++) {
            l[i] = n.path("counts").path(i).asLong();
        }
        loss = d[0];
        rewardChosen = d[1];
        rewardRejected = d[2];
        correct = d[3];
        margin = d[4];
        logpChosen = d[5];
        logpRejected = d[6];
        logitChosen = d[7];
        logitRejected = d[8];
        tokensChosen = d[9];
        tokensRejected = d[10];
        gradNorm = d[11];
        lossCount = l[0];
        chosenCount = l[1];
        rejectedCount = l[2];
        pairCount = l[3];
        steps = l[4];
        tokens = l[5];
        n.path("extra").fields().forEachRemaining(e ->
                extra.put(e.getKey(), new double[] {e.getValue().path(0).asDouble(), e.getValue().path(1).asDouble()}));
    }

    private void reset() {
        loss = rewardChosen = rewardRejected = correct = margin = 0;
        logpChosen = logpRejected = logitChosen = logitRejected = tokensChosen = tokensRejected = gradNorm = 0;
        lossCount = chosenCount = rejectedCount = pairCount = steps = tokens = 0;
        extra.clear();
        startNanos = System.nanoTime();
    }
}
