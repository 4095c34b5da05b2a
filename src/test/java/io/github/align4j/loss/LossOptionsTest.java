package io.github.align4j.loss;

import static io.github.align4j.loss.Fixtures.BETA;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Options of any type reach built-in and custom losses; kto_pair's two KL forms and their gradients. */
class LossOptionsTest {
    @BeforeAll
    static void offline() {
        Offline.ensure();
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    private static double dsig(double x) {
        return sigmoid(x) * (1 - sigmoid(x));
    }

    @Test
    void customLossReceivesObjectOptions() {
        LengthAlphaLoss l = (LengthAlphaLoss) Losses.create(LengthAlphaLoss.class.getName(),
                Map.of("length_alpha", 0.2, "note", "x"));
        assertEquals(0.2, l.lengthAlpha());
        assertEquals("x", l.options().get("note"));
        assertTrue(Losses.reads(LengthAlphaLoss.class.getName(), "anything"));
        String unknown = assertThrows(Align4jException.class,
                () -> Losses.create(LengthAlphaLoss.class.getName(), Map.of("lenght_alpha", 0.2))).getMessage();
        assertTrue(unknown.contains("unknown option lenght_alpha"), unknown);
        // Map<String, Double> constructors still work; text that is a number is converted, other text is refused
        assertEquals(3.0, ((ScaledDpo) Losses.create(ScaledDpo.class.getName(), Map.of("scale", "3"))).scale());
        String text = assertThrows(Align4jException.class,
                () -> Losses.create(ScaledDpo.class.getName(), Map.of("scale", "big"))).getMessage();
        assertTrue(text.contains("scale='big'") && text.contains("Map<String, Object>"), text);
    }

    @Test
    void builtinOptionsAreTyped() {
        assertEquals(0.1, ((Dpo) Losses.create("dpo", Map.of("label_smoothing", "0.1"))).labelSmoothing());
        assertTrue(((KtoPair) Losses.create("kto_pair", Map.of("kl_detach", "true"))).klDetach());
        assertFalse(((KtoPair) Losses.create("kto_pair", Map.of("kl_detach", false))).klDetach());
        assertTrue(((KtoPair) Losses.create("kto_pair", Map.of())).klDetach(), "default: detached, as before");
        String bad = assertThrows(Align4jException.class,
                () -> Losses.create("kto_pair", Map.of("kl_detach", "maybe"))).getMessage();
        assertTrue(bad.contains("kl_detach") && bad.contains("true or false"), bad);
        String nan = assertThrows(Align4jException.class, () -> Losses.create("dpo", Map.of("label_smoothing", "x")))
                .getMessage();
        assertTrue(nan.contains("label_smoothing") && nan.contains("must be a number"), nan);
        assertTrue(Losses.reads("kto_pair", "kl_detach"));
        assertFalse(Losses.reads("dpo", "kl_detach"));
        assertFalse(Losses.reads(NoOptionLoss.class.getName(), "scale"));
        assertEquals(Map.of("label_smoothing", 0.2), Losses.create("dpo", Map.of("label_smoothing", 0.2)).options());
    }

    private static PairedLogps backward(NDManager m, PairedLoss loss) {
        PairedLogps p = Fixtures.pairs(m);
        p.policyChosen().setRequiresGradient(true);
        p.policyRejected().setRequiresGradient(true);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.backward(loss.compute(p, BETA).losses().mean());
        }
        return p;
    }

    /** The mean kto_pair loss in float64, TRL 0.7's form, as a function of πc (πr, ρ fixed as in Fixtures). */
    private static double ktoPair(double pc0, double pc1) {
        double[] cl = {pc0 + 11, pc1 + 8.5};
        double[] rl = {-0.5, 0.2};
        double klc = Math.max(0, (cl[0] + cl[1]) / 2);
        double klr = Math.max(0, (rl[0] + rl[1]) / 2);
        double sum = 0;
        for (int i = 0; i < 2; i++) {
            sum += 1 - sigmoid(BETA * (cl[i] - klr)) + 1 - sigmoid(BETA * (klc - rl[i]));
        }
        return sum / 4;
    }

    @Test
    void ktoPairTrl07FormSendsGradientThroughTheKl() {
        try (NDManager m = NDManager.newBaseManager()) {
            PairedLogps p = backward(m, new KtoPair(false));
            // cl = [1, 0.5], rl = [-0.5, 0.2]: KLc = 0.75 > 0 passes gradient, KLr = max(0, −0.15) = 0 does not.
            // dL/dπc_i = −βσ'(β cl_i)/4 + (1/B) Σ_j −βσ'(β(KLc − rl_j))/4 (hand-worked), and by finite differences:
            double[] hand = new double[2];
            double[] cl = {1, 0.5};
            double[] rl = {-0.5, 0.2};
            for (int i = 0; i < 2; i++) {
                hand[i] = -BETA * dsig(BETA * cl[i]) / 4;
                for (double r : rl) {
                    hand[i] += -BETA * dsig(BETA * (0.75 - r)) / 4 / 2;
                }
            }
            double h = 1e-5;
            double[] fd = {(ktoPair(-10 + h, -8) - ktoPair(-10 - h, -8)) / (2 * h),
                    (ktoPair(-10, -8 + h) - ktoPair(-10, -8 - h)) / (2 * h)};
            assertArrayEquals(new double[] {-0.0124698636, -0.0124815580}, hand, 1e-10);
            assertArrayEquals(hand, fd, 1e-8);
            float[] g = p.policyChosen().getGradient().toFloatArray();
            assertArrayEquals(new double[] {hand[0], hand[1]}, new double[] {g[0], g[1]}, 1e-8);
            // πr only enters through rl (KLr is clamped at 0): the same as the detached form
            assertArrayEquals(new float[] {0.0062256494f, 0.0062452758f}, p.policyRejected().getGradient().toFloatArray(),
                    1e-9f);
        }
    }

    @Test
    void ktoPairDetachedFormHasNoKlGradientAndTheSameLoss() {
        try (NDManager m = NDManager.newBaseManager()) {
            PairedLogps p = backward(m, new KtoPair(true));
            assertArrayEquals(new float[] {-0.0062344010f, -0.0062460954f}, p.policyChosen().getGradient().toFloatArray(),
                    1e-9f);
            double a = new KtoPair(true).compute(Fixtures.pairs(m), BETA).losses().mean().getFloat();
            double b = new KtoPair(false).compute(Fixtures.pairs(m), BETA).losses().mean().getFloat();
            assertEquals(ktoPair(-10, -8), a, 1e-6);
            assertEquals(a, b, 0.0, "the forms differ in gradient only");
        }
    }

    @Test
    void ktoPairAtZeroMeanPassesGradientAsClampDoes() {
        // policy = reference (the first step): mean(cl) = 0 exactly; PyTorch's clamp(min=0) passes the gradient there
        try (NDManager m = NDManager.newBaseManager()) {
            PairedLogps p = new PairedLogps(Fixtures.f(m, -10, -8), Fixtures.f(m, -12, -7), Fixtures.f(m, -10, -8),
                    Fixtures.f(m, -12, -7), Fixtures.f(m, 5, 4), Fixtures.f(m, 6, 3));
            p.policyChosen().setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(new KtoPair(false).compute(p, BETA).losses().mean());
            }
            // every ratio 0: dL/dπc_i = −βσ'(0)/4 − 2·βσ'(0)/8 = −β/16 − β/16
            assertArrayEquals(new float[] {(float) (-BETA / 8), (float) (-BETA / 8)},
                    p.policyChosen().getGradient().toFloatArray(), 1e-8f);
        }
    }
}
