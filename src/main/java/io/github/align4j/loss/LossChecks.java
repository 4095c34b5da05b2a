package io.github.align4j.loss;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Checks a loss the way align4j's trainer will use it; call it from a unit test of your own loss:
 *
 * <pre>{@code
 * @Test
 * void myLossIsSound() {
 *     LossChecks.check(new MyLoss());
 * }
 * }</pre>
 *
 * <p>On random log-probs (fixed seed) for batches of 1, 2 and 5 it checks that
 * <ul>
 *   <li>the loss returns a 1-d float32 array of finite losses (typically one per example), and finite 0-d or
 *       1-element metrics;</li>
 *   <li>gradients reach the policy's log-probs and are finite;</li>
 *   <li>the gradients agree with central finite differences of the mean loss;</li>
 *   <li>the gradients are the same when the garbage collector runs, and freed native memory is overwritten,
 *       between forward and backward. This fails for a loss that scales with DJL's {@code x.mul(beta)}
 *       (see {@link Scalars}): align4j's trainer keeps that memory alive while it trains, but the same loss gives
 *       wrong gradients in any other code that runs it under autograd.</li>
 * </ul>
 * A failed check throws an {@link AssertionError} whose message names the check, the batch and the fix. The check
 * calls {@code System.gc()} and takes about a second; it is meant for tests, not for training code.
 */
public final class LossChecks {
    private static final int[] BATCHES = {1, 2, 5};
    private static final float STEP = 1e-2f;

    private LossChecks() {}

    /** Runs every check with β = 0.1. */
    public static void check(PreferenceLoss loss) {
        check(loss, 0.1);
    }

    /** Runs every check with temperature {@code beta}; throws {@link AssertionError} on the first failure. */
    public static void check(PreferenceLoss loss, double beta) {
        check(loss, beta, true);
    }

    /**
     * As {@link #check(PreferenceLoss, double)}, with the finite-difference check optional: turn it off for a loss
     * that deliberately detaches a statistic of the batch's policy log-probs from the graph (TRL's {@code kto_pair}
     * KL estimate), which finite differences see and autograd does not.
     */
    public static void check(PreferenceLoss loss, double beta, boolean finiteDifferences) {
        Random random = new Random(20240607L);
        double gradientMass = 0;
        for (int b : BATCHES) {
            Inputs in = Inputs.random(loss, b, random);
            try {
                float[][] calm = gradients(loss, beta, in, b, false);
                for (float[] g : calm) {
                    for (int i = 0; i < g.length; i++) {
                        if (!Float.isFinite(g[i])) {
                            throw fail(loss, b, "its gradient is not finite (" + g[i] + " at example " + i
                                    + "): keep logs, divisions and exponentials away from 0 and overflow (e.g. log σ(x) as "
                                    + "−softplus(−x)).");
                        }
                        gradientMass += Math.abs(g[i]);
                    }
                }
                if (finiteDifferences) {
                    finiteDifferences(loss, beta, in, b, calm);
                }
                float[][] churned = gradients(loss, beta, in, b, true);
                for (int k = 0; k < calm.length; k++) {
                    for (int i = 0; i < calm[k].length; i++) {
                        if (Float.compare(calm[k][i], churned[k][i]) != 0
                                && !(Math.abs(calm[k][i] - churned[k][i]) <= 1e-6 * Math.max(1, Math.abs(calm[k][i])))) {
                            throw fail(loss, b, String.format(Locale.ROOT,
                                    "its gradient changes when the garbage collector runs between forward and backward "
                                            + "(%s[%d]: %s, then %s after a GC): the autograd graph reads Java "
                                            + "memory that was freed. Scale with Scalars.times(x, beta) (and "
                                            + "Scalars.divide/pow/maximum/minimum), not x.mul(beta) and friends, and keep "
                                            + "arrays made with manager.create(javaArray) open until backward (or copy them "
                                            + "with Scalars.owned). align4j's trainer keeps such memory alive while it "
                                            + "trains, but this loss gives wrong gradients anywhere else.",
                                    in.names[k], i, calm[k][i], churned[k][i]));
                        }
                    }
                }
            } finally {
                in.manager.close();
            }
        }
        if (gradientMass == 0) {
            throw fail(loss, 0, "its gradient with respect to the policy's log-probs is zero on every batch: the loss "
                    + "does not depend on the policy's log-probs, or cut the graph with stopGradient.");
        }
    }

    /** Random inputs of one batch, in their own manager (the arrays stay open until the checks of the batch end). */
    private static final class Inputs {
        final NDManager manager;
        final float[][] policy;
        final String[] names;
        final float[][] rest;

        private Inputs(NDManager manager, float[][] policy, String[] names, float[][] rest) {
            this.manager = manager;
            this.policy = policy;
            this.names = names;
            this.rest = rest;
        }

        static Inputs random(PreferenceLoss loss, int b, Random r) {
            NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu()); // never the default device: no GPU probe
            if (loss instanceof PairedLoss) {
                float[] pc = logps(r, b);
                float[] pr = logps(r, b);
                return new Inputs(m, new float[][] {pc, pr}, new String[] {"policyChosen", "policyRejected"},
                        new float[][] {near(r, pc), near(r, pr), counts(r, b), counts(r, b)});
            }
            float[] p = logps(r, b);
            float[] desirable = new float[b];
            for (int i = 0; i < b; i++) {
                desirable[i] = i % 2 == 0 ? 1f : 0f;
            }
            float[] mp = logps(r, b);
            return new Inputs(m, new float[][] {p}, new String[] {"policy"},
                    new float[][] {near(r, p), counts(r, b), desirable, mp, near(r, mp)});
        }

        private static float[] logps(Random r, int b) {
            float[] x = new float[b];
            for (int i = 0; i < b; i++) {
                x[i] = -5f - 25f * r.nextFloat();
            }
            return x;
        }

        private static float[] near(Random r, float[] x) {
            float[] y = new float[x.length];
            for (int i = 0; i < x.length; i++) {
                y[i] = x[i] + 4f * (r.nextFloat() - 0.5f);
            }
            return y;
        }

        private static float[] counts(Random r, int b) {
            float[] x = new float[b];
            for (int i = 0; i < b; i++) {
                x[i] = 1 + r.nextInt(20);
            }
            return x;
        }
    }

    /** The loss's output on policy log-probs {@code policy}; arrays made here live in {@code m}. */
    private static LossOutput run(PreferenceLoss loss, double beta, Inputs in, NDManager m, NDArray[] policy) {
        float[][] x = in.rest;
        boolean ref = loss.needsReference();
        try {
            if (loss instanceof PairedLoss pl) {
                return pl.compute(new PairedLogps(policy[0], policy[1], ref ? m.create(x[0]) : null,
                        ref ? m.create(x[1]) : null, m.create(x[2]), m.create(x[3])), beta);
            }
            UnpairedLoss ul = (UnpairedLoss) loss;
            boolean kl = ul.needsMismatchedPairs();
            return ul.compute(new UnpairedLogps(policy[0], ref ? m.create(x[0]) : null, m.create(x[1]), m.create(x[2]),
                    kl ? m.create(x[3]) : null, kl && ref ? m.create(x[4]) : null), beta);
        } catch (RuntimeException e) {
            AssertionError a = fail(loss, (int) policy[0].size(), "compute threw " + e);
            a.initCause(e);
            throw a;
        }
    }

    /** d mean(losses) / d policy log-probs, after checking the output's shape and values. */
    private static float[][] gradients(PreferenceLoss loss, double beta, Inputs in, int b, boolean churn) {
        try (NDManager m = in.manager.newSubManager()) {
            NDArray[] policy = new NDArray[in.policy.length];
            for (int k = 0; k < policy.length; k++) {
                policy[k] = m.create(in.policy[k]);
                policy[k].setRequiresGradient(true);
            }
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                LossOutput out = run(loss, beta, in, m, policy);
                NDArray mean = checkOutput(loss, out, b).mean();
                if (churn) {
                    churn();
                }
                try {
                    gc.backward(mean);
                } catch (RuntimeException e) {
                    AssertionError a = fail(loss, b, "backward failed (" + e.getMessage() + "): the loss does not "
                            + "depend on the policy's log-probs, or cut the graph (stopGradient, a new array from Java values).");
                    a.initCause(e);
                    throw a;
                }
            }
            float[][] g = new float[policy.length][];
            for (int k = 0; k < policy.length; k++) {
                g[k] = policy[k].getGradient().toFloatArray();
            }
            return g;
        }
    }

    private static NDArray checkOutput(PreferenceLoss loss, LossOutput out, int b) {
        if (out == null || out.losses() == null) {
            throw fail(loss, b, "it returned no losses.");
        }
        NDArray l = out.losses();
        long n = l.size();
        if (l.getShape().dimension() > 1 || n < 1) {
            throw fail(loss, b, "its losses have shape " + l.getShape() + "; return a 1-d array of at least one loss "
                    + "(typically one per example, shape (" + b + ")): the trainer minimises their mean.");
        }
        if (l.getDataType() != DataType.FLOAT32) {
            throw fail(loss, b, "its losses are " + l.getDataType() + ", not float32: a Double operand (e.g. "
                    + "x.add(1.0)) makes float64 tensors; use float operands (x.add(1f)) or Scalars.");
        }
        for (float v : l.toFloatArray()) {
            if (!Float.isFinite(v)) {
                throw fail(loss, b, "its losses are not finite (" + v + "): keep logs, divisions and exponentials "
                        + "away from 0 and overflow.");
            }
        }
        for (Map.Entry<String, NDArray> e : out.metrics().entrySet()) {
            NDArray v = e.getValue();
            if (v == null || v.size() != 1 || !Float.isFinite(v.toType(DataType.FLOAT32, false).getFloat())) {
                throw fail(loss, b, "its metric '" + e.getKey() + "' is not one finite number ("
                        + (v == null ? "null" : v.getShape() + " " + v) + ").");
            }
        }
        return l;
    }

    /** Central differences of the mean loss against the autograd gradient, for every policy log-prob. */
    private static void finiteDifferences(PreferenceLoss loss, double beta, Inputs in, int b, float[][] grad) {
        for (int k = 0; k < in.policy.length; k++) {
            for (int i = 0; i < b; i++) {
                double up = meanAt(loss, beta, in, k, i, STEP);
                double down = meanAt(loss, beta, in, k, i, -STEP);
                double fd = (up - down) / (2 * STEP);
                double g = grad[k][i];
                if (!(Math.abs(fd - g) <= 2e-3 + 2e-2 * Math.max(Math.abs(fd), Math.abs(g)))) {
                    throw fail(loss, b, String.format(Locale.ROOT, "its gradient d(mean loss)/d %s[%d] is %.6g but finite "
                            + "differences give %.6g: part of the loss is cut from the graph (stopGradient, "
                            + "toFloatArray and back, a new array from Java values) or is not differentiable there. If the loss "
                            + "detaches a batch statistic on purpose, call check(loss, beta, false).",
                            in.names[k], i, g, fd));
                }
            }
        }
    }

    private static double meanAt(PreferenceLoss loss, double beta, Inputs in, int k, int i, float h) {
        try (NDManager m = in.manager.newSubManager()) {
            NDArray[] policy = new NDArray[in.policy.length];
            for (int j = 0; j < policy.length; j++) {
                float[] v = in.policy[j].clone();
                if (j == k) {
                    v[i] += h;
                }
                policy[j] = m.create(v);
            }
            return run(loss, beta, in, m, policy).losses().mean().getFloat();
        }
    }

    /** Lets the GC free unreachable direct buffers, then fills small freed native blocks with a junk pattern. */
    private static void churn() {
        List<ByteBuffer> keep = new ArrayList<>();
        for (int round = 0; round < 10; round++) {
            System.gc();
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted during LossChecks", e);
            }
            for (int size : new int[] {16, 64}) {
                for (int i = 0; i < 1000; i++) {
                    ByteBuffer buf = ByteBuffer.allocateDirect(size).order(ByteOrder.nativeOrder());
                    for (int j = 0; j + 8 <= size; j += 8) {
                        buf.putLong(j, 0x4499_7777_7777_7777L);
                    }
                    keep.add(buf);
                }
            }
        }
    }

    private static AssertionError fail(PreferenceLoss loss, int b, String why) {
        String where = b > 0 ? " on a batch of " + b : "";
        return new AssertionError("LossChecks: loss '" + loss.name() + "' (" + loss.getClass().getName() + ") failed"
                + where + ": " + why);
    }
}
