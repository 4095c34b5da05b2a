package io.github.align4j.train;

import ai.djl.ndarray.NDArray;
import io.github.align4j.model.SequenceScorer;
import java.util.LinkedHashMap;
import java.util.Map;

/** Running sums of the metrics between two log lines. */
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
        for (int i = 0; i < b; i++) {
            double rc = beta * (lp[i] - (ref == null ? 0 : ref[i]));
            double rr = beta * (lp[b + i] - (ref == null ? 0 : ref[b + i]));
            rewardChosen += rc;
            rewardRejected += rr;
            margin += rc - rr;
            correct += rc > rr ? 1 : 0;
            logpChosen += lp[i];
            logpRejected += lp[b + i];
            logitChosen += ls[i];
            logitRejected += ls[b + i];
            tokensChosen += tk[i];
            tokensRejected += tk[b + i];
        }
        chosenCount += b;
        rejectedCount += b;
        pairCount += b;
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

    /** Adds another window's sums to these (a step's metrics into the logging window). */
    void addAll(Window o) {
        loss += o.loss;
        lossCount += o.lossCount;
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
