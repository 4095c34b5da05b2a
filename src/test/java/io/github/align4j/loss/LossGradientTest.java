package io.github.align4j.loss;

import static io.github.align4j.loss.Fixtures.BETA;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.github.align4j.internal.Offline;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Gradients of the mean loss wrt the policy arrays, against analytic float64 values. */
class LossGradientTest {
    @BeforeAll
    static void offline() {
        Offline.ensure();
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    /** Runs the loss inside a gradient collector with gradients on πc and πr. */
    private static PairedLogps backwardPaired(NDManager m, PairedLoss loss) {
        PairedLogps p = Fixtures.pairs(m);
        p.policyChosen().setRequiresGradient(true);
        p.policyRejected().setRequiresGradient(true);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.backward(loss.compute(p, BETA).losses().mean());
        }
        return p;
    }

    private static float[] floats(double... v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    @Test
    void dpoGradientIsAnalytic() {
        try (NDManager m = NDManager.newBaseManager()) {
            PairedLogps p = backwardPaired(m, new Dpo());
            // dL/dπc_i = −β(1 − σ(βd_i))/B, d = [1.5, 0.3]; dL/dπr = −dL/dπc
            double[] d = {1.5, 0.3};
            float[] expected = floats(-BETA * (1 - sigmoid(BETA * d[0])) / 2, -BETA * (1 - sigmoid(BETA * d[1])) / 2);
            assertArrayEquals(new float[] {-0.0231285077f, -0.0246250281f}, expected, 1e-9f);
            assertArrayEquals(expected, p.policyChosen().getGradient().toFloatArray(), 1e-8f);
            assertArrayEquals(floats(-expected[0], -expected[1]), p.policyRejected().getGradient().toFloatArray(), 1e-8f);
        }
    }

    @Test
    void ktoPairKlEstimatesAreDetached() {
        try (NDManager m = NDManager.newBaseManager()) {
            PairedLogps p = backwardPaired(m, new KtoPair(true));
            // With KLc = 0.75 and KLr = 0 constants, πc only enters 1 − σ(β(cl − KLr)):
            // dL/dπc_i = −β σ'(β cl_i)/(2B); πr only enters 1 − σ(β(KLc − rl)): dL/dπr_i = +β σ'(β(KLc − rl_i))/(2B).
            // Gradients through the KL estimates would add ±β Σ σ'(·)/(2B·B) to every entry.
            assertArrayEquals(new float[] {-0.0062344010f, -0.0062460954f},
                    p.policyChosen().getGradient().toFloatArray(), 1e-9f);
            assertArrayEquals(new float[] {0.0062256494f, 0.0062452758f},
                    p.policyRejected().getGradient().toFloatArray(), 1e-9f);
        }
    }

    @Test
    void ktoKlGetsNoGradient() {
        try (NDManager m = NDManager.newBaseManager()) {
            UnpairedLogps u = Fixtures.unpaired(m);
            u.policy().setRequiresGradient(true);
            u.mismatchedPolicy().setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(new Kto().compute(u, BETA).losses().mean());
            }
            assertArrayEquals(new float[4], u.mismatchedPolicy().getGradient().toFloatArray());
            // desirable: −β σ'(β(r − z))/B, undesirable: +β σ'(β(z − r))/B with z = 0.25 fixed
            assertArrayEquals(new float[] {-0.0062412192f, 0.0062412192f, -0.0062490235f, 0.0062499609f},
                    u.policy().getGradient().toFloatArray(), 1e-9f);
        }
    }

    @Test
    void weightedGradientIsTheWeightedSum() {
        try (NDManager m = NDManager.newBaseManager()) {
            PairedLoss rpo = (PairedLoss) WeightedLoss.of(
                    List.of(new WeightedLoss.Term(new Dpo(), 1), new WeightedLoss.Term(new Sft(), 0.5)));
            PairedLogps p = backwardPaired(m, rpo);
            // dpo's gradient plus 0.5·d(−Σπc/Σ|yc|)/dπc = 0.5·(−1/9)
            assertArrayEquals(new float[] {(float) (-0.0231285077 - 0.5 / 9), (float) (-0.0246250281 - 0.5 / 9)},
                    p.policyChosen().getGradient().toFloatArray(), 1e-8f);
        }
    }
}
