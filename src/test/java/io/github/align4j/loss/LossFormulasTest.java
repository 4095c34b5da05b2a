package io.github.align4j.loss;

import static io.github.align4j.loss.Fixtures.BETA;
import static io.github.align4j.loss.Fixtures.assertClose;
import static io.github.align4j.loss.Fixtures.mean;
import static io.github.align4j.loss.Fixtures.pairs;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.github.align4j.internal.Offline;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Each loss on the shared batch against a float64 golden. On that batch cl = [1, 0.5],
 * rl = [-0.5, 0.2], d = [1.5, 0.3], β = 0.1 (see {@link Fixtures}).
 */
class LossFormulasTest {
    @BeforeAll
    static void offline() {
        Offline.ensure();
    }

    private static double loss(PairedLoss loss) {
        try (NDManager m = NDManager.newBaseManager()) {
            return mean(loss.compute(pairs(m), BETA));
        }
    }

    @Test
    void dpo() {
        assertClose(0.6496083621, loss(new Dpo())); // mean −logσ(βd)
        assertClose(0.6586083621, loss(new Dpo(0.1))); // mean −0.9·logσ(βd) − 0.1·logσ(−βd)
    }

    @Test
    void dpoOfIdenticalModelsIsLn2() {
        try (NDManager m = NDManager.newBaseManager()) {
            PairedLogps p = pairs(m);
            PairedLogps same = new PairedLogps(p.policyChosen(), p.policyRejected(), p.policyChosen(),
                    p.policyRejected(), p.chosenTokens(), p.rejectedTokens());
            float[] losses = new Dpo().compute(same, BETA).losses().toFloatArray();
            assertArrayEquals(new float[] {(float) Math.log(2), (float) Math.log(2)}, losses);
        }
    }

    @Test
    void hingeAndIpo() {
        assertClose(0.91, loss(new Hinge())); // mean relu(1 − βd) = (0.85 + 0.97)/2
        // d' on mean log-probs: (−10/5 + 12/6) − (−11/5 + 11.5/6) = 0.28333…, (−8/4 + 7/3) − (−8.5/4 + 7.2/3) = 0.05833…;
        // mean (d' − 5)²
        assertClose(23.3335069444, loss(new Ipo()));
    }

    @Test
    void robust() {
        // (−logσ(βd)(1−ε) + logσ(−βd)ε)/(1−2ε)
        assertClose(0.6383583621, loss(new Robust(0.1)));
        assertClose(0.6196083621, loss(new Robust(0.2)));
        assertClose(0.6496083621, loss(new Robust())); // ε = 0 is DPO
    }

    @Test
    void ktoPair() {
        // KLc = max(0, 0.75) = 0.75, KLr = max(0, −0.15) = 0;
        // mean of 1 − σ(β(cl − 0)) (2 values) and 1 − σ(β(0.75 − rl)) (2 values)
        try (NDManager m = NDManager.newBaseManager()) {
            LossOutput out = new KtoPair().compute(pairs(m), BETA);
            assertEquals(4, out.losses().size());
            assertClose(0.4793918769, mean(out));
        }
    }

    @Test
    void referenceBasedVariants() {
        // mean (cl − 5)² + (rl + 5)² = (16 + 20.25 + 20.25 + 27.04)/2
        assertClose(41.77, loss(new SppoHard()));
        // mean −logσ(β·cl) − ½logσ(−β·cl) − ½logσ(−β·rl)
        assertClose(1.3650564380, loss(new NcaPair()));
        // mean (1 − σ(β·cl)) + σ(β·rl)
        assertClose(0.9775129264, loss(new ApoZero()));
        // mean σ(β·cl) + 1 − σ(β·d)
        assertClose(0.9962736505, loss(new ApoDown()));
    }

    @Test
    void simpo() {
        // mean −logσ(β(πc/|yc| − πr/|yr|) − γ), πc/|yc| − πr/|yr| = [0, 1/3]
        assertClose(0.9637681160, loss(new Simpo()));
        assertClose(1.3011322718, loss(new Simpo(1.0, 0)));
        // with ε = 0.1: −0.9·logσ(x) − 0.1·logσ(−x)
        assertClose(0.9154347826, loss(new Simpo(0.5, 0.1)));
        assertFalse(new Simpo().needsReference());
    }

    @Test
    void sft() {
        try (NDManager m = NDManager.newBaseManager()) {
            LossOutput out = new Sft().compute(pairs(m), BETA);
            // −Σπc/Σ|yc| = 18/9 = 2; per example −πc·B/Σ|yc| = [20/9, 16/9]
            assertArrayEquals(new float[] {20f / 9, 16f / 9}, out.losses().toFloatArray(), 1e-6f);
            assertClose(2.0, mean(out));
            assertClose(2.0, out.metrics().get("nll_loss").getFloat());
            assertFalse(new Sft().needsReference());
        }
    }

    @Test
    void weightedDpoPlusHalfSft() {
        PreferenceLoss rpo = WeightedLoss.of(List.of(new WeightedLoss.Term(new Dpo(), 1), new WeightedLoss.Term(new Sft(), 0.5)));
        assertEquals("dpo+0.5*sft", rpo.name());
        assertTrue(rpo instanceof PairedLoss && rpo.needsReference());
        try (NDManager m = NDManager.newBaseManager()) {
            LossOutput out = ((PairedLoss) rpo).compute(pairs(m), BETA);
            // per example −logσ(βd) + 0.5·(−πc·B/Σ|yc|); mean 0.6496083621 + 0.5·2
            assertArrayEquals(new float[] {1.7320681589f, 1.5671485652f}, out.losses().toFloatArray(), 2e-6f);
            assertClose(1.6496083621, mean(out));
            assertClose(2.0, out.metrics().get("nll_loss").getFloat());
            assertClose(0.6496083621, out.metrics().get("loss/dpo").getFloat());
        }
    }

    @Test
    void weightedWithUnequalLengthsIsOneScalar() {
        // kto_pair returns 2B losses and dpo B: the sum is one number, 0.6496083621 + 0.4793918769
        PreferenceLoss mix = WeightedLoss.of(List.of(new WeightedLoss.Term(new Dpo(), 1), new WeightedLoss.Term(new KtoPair(), 1)));
        try (NDManager m = NDManager.newBaseManager()) {
            LossOutput out = ((PairedLoss) mix).compute(pairs(m), BETA);
            assertEquals(1, out.losses().size());
            assertClose(1.1290002390, mean(out));
        }
    }

    @Test
    void kto() {
        try (NDManager m = NDManager.newBaseManager()) {
            // ratios r = [1, −0.5, 0.5, 0.2]; z = max(0, mean([0.5, 0.2, −0.1, 0.4])) = 0.25;
            // mean of 1 − σ(β(r − z)) (desirable) and 1 − σ(β(z − r)) (undesirable)
            LossOutput out = new Kto().compute(Fixtures.unpaired(m), BETA);
            assertClose(0.4887544741, mean(out));
            assertClose(0.25, out.metrics().get("kl").getFloat());
            // w_d = 2, w_u = 0.5 scale the two kinds
            assertClose(0.6100056532, mean(new Kto(2, 0.5).compute(Fixtures.unpaired(m), BETA)));
            assertTrue(new Kto().needsMismatchedPairs());
        }
    }
}
