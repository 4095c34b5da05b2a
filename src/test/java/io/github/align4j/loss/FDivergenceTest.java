package io.github.align4j.loss;

import static io.github.align4j.loss.Fixtures.BETA;
import static io.github.align4j.loss.Fixtures.assertClose;
import static io.github.align4j.loss.Fixtures.mean;
import static io.github.align4j.loss.Fixtures.pairs;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.FDivergence.Type;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** f-DPO's scores against float64 values worked by hand on the shared batch (cl = [1, 0.5], rl = [−0.5, 0.2], β = 0.1). */
class FDivergenceTest {
    @BeforeAll
    static void offline() {
        Offline.ensure();
    }

    private static double loss(PreferenceLoss loss) {
        try (NDManager m = NDManager.newBaseManager()) {
            return mean(((PairedLoss) loss).compute(pairs(m), BETA));
        }
    }

    @Test
    void eachDivergenceByHand() {
        // mean −logσ(β(f(cl) − f(rl)))
        assertClose(0.6568739223, loss(FDivergence.wrap(new Dpo(), Type.FORWARD_KL, 1))); // f(r) = −exp(−r)
        assertClose(0.6738077439, loss(FDivergence.wrap(new Dpo(), Type.JS_DIVERGENCE, 1))); // f(r) = logσ(r)
        assertClose(0.6541569441, loss(FDivergence.wrap(new Dpo(), Type.ALPHA_DIVERGENCE, 0.5))); // exp((α−1)r)/(α−1)
        assertClose(0.6325665751, loss(FDivergence.wrap(new Dpo(), Type.ALPHA_DIVERGENCE, 2.0)));
        // hinge on forward-KL scores: mean relu(1 − β(f(cl) − f(rl)))
        assertClose(0.9253479039, loss(FDivergence.wrap(new Hinge(), Type.FORWARD_KL, 1)));
    }

    @Test
    void reverseKlAndAlphaOneAreTheLossItself() {
        Dpo dpo = new Dpo();
        assertSame(dpo, FDivergence.wrap(dpo, Type.REVERSE_KL, 1));
        assertSame(dpo, FDivergence.wrap(dpo, Type.ALPHA_DIVERGENCE, 1.0));
    }

    @Test
    void gradientFlowsThroughTheScore() {
        try (NDManager m = NDManager.newBaseManager()) {
            PairedLogps p = pairs(m);
            p.policyChosen().setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(((PairedLoss) FDivergence.wrap(new Dpo(), Type.FORWARD_KL, 1)).compute(p, BETA).losses().mean());
            }
            // dL/dπc_i = −β(1 − σ(βδ_i))·exp(−cl_i)/B, δ = f(cl) − f(rl)
            assertArrayEquals(new float[] {-0.0086087957f, -0.0150023902f}, p.policyChosen().getGradient().toFloatArray(), 1e-8f);
        }
        LossChecks.check(FDivergence.wrap(new Dpo(), Type.JS_DIVERGENCE, 1));
        LossChecks.check(FDivergence.wrap(new Ipo(), Type.ALPHA_DIVERGENCE, 0.5));
    }

    @Test
    void lossesThatReadRawRatiosAreRefused() {
        for (PreferenceLoss l : new PreferenceLoss[] {new Aot(), new ApoZero(), new ApoDown(), new Simpo(), new Kto()}) {
            Align4jException e = assertThrows(Align4jException.class, () -> FDivergence.wrap(l, Type.FORWARD_KL, 1));
            assertTrue(e.getMessage().contains("does not apply to loss '" + l.name() + "'"), e.getMessage());
        }
        assertThrows(Align4jException.class, () -> Type.of("kl"));
        assertEquals(Type.JS_DIVERGENCE, Type.of("js_divergence"));
    }

    @Test
    void recordedInTheLossOptions() {
        PreferenceLoss l = FDivergence.wrap(new Dpo(0.1), Type.ALPHA_DIVERGENCE, 0.5);
        assertEquals("dpo", l.name());
        assertEquals("alpha_divergence", l.options().get("f_divergence_type"));
        assertEquals(0.5, l.options().get("f_alpha_divergence_coef"));
        assertEquals(0.1, l.options().get("label_smoothing"));
    }
}
