package io.github.align4j.loss;

import static io.github.align4j.loss.Fixtures.BETA;
import static io.github.align4j.loss.Fixtures.assertClose;
import static io.github.align4j.loss.Fixtures.f;
import static io.github.align4j.loss.Fixtures.mean;
import static io.github.align4j.loss.Fixtures.pairs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The loss types TRL's DPOTrainer (v1.x) and KTOTrainer added after the study's: each against a float64 golden worked
 * from the formula in its Javadoc (and TRL's source as it states it), created by its TRL name, and through
 * {@link LossChecks} (finite differences, batches of 1, 2, 5). Shared batch: cl = [1, 0.5], rl = [−0.5, 0.2],
 * d = [1.5, 0.3], β = 0.1 (see {@link Fixtures}).
 */
class TrlLossesTest {
    @BeforeAll
    static void offline() {
        Offline.ensure();
    }

    private static double loss(PairedLoss loss) {
        try (NDManager m = NDManager.newBaseManager()) {
            return mean(loss.compute(pairs(m), BETA));
        }
    }

    /**
     * A batch of 3 whose sort order differs from its row order: πc − πr = [1, −1, 2], ρc − ρr = [0, 0.5, −1],
     * cl = [0, −1, −2], rl = [−1, 0.5, −5].
     */
    private static PairedLogps shuffled(NDManager m) {
        return new PairedLogps(f(m, -1, -2, -3), f(m, -2, -1, -5), f(m, -1, -1, -1), f(m, -1, -1.5, 0),
                f(m, 4, 4, 4), f(m, 4, 4, 4));
    }

    @Test
    void exoPair() {
        // mean σ(βd)(logσ(βd) − log(1−ε)) + σ(−βd)(logσ(−βd) − log ε); ε = 0 means 1e-3, as TRL
        assertClose(2.6075314879, loss(new ExoPair()));
        assertClose(2.6075314879, loss(new ExoPair(1e-3)));
        assertClose(0.4629243099, loss(new ExoPair(0.1)));
        assertEquals(1e-3, new ExoPair(0).epsilon());
    }

    @Test
    void bcoPair() {
        // mean −logσ(β·cl) − logσ(−β·rl)
        assertClose(1.3422565679, loss(new BcoPair()));
    }

    @Test
    void aotSortsTheBatch() {
        try (NDManager m = NDManager.newBaseManager()) {
            // sort([1, −1, 2]) − sort([0, 0.5, −1]) = [0, 1, 1.5]; mean −logσ(βδ) (DPO on rows would be 0.6565696508)
            assertClose(0.6528336295, mean(new Aot().compute(shuffled(m), BETA)));
            assertClose(0.6611669628, mean(new Aot(0.1).compute(shuffled(m), BETA)));
            // sort(cl) − sort(rl) = [−2, −1, 0] − [−5, −1, 0.5] = [3, 0, −0.5]
            assertClose(0.6553206910, mean(new AotUnpaired().compute(shuffled(m), BETA)));
            assertClose(0.6636540243, mean(new AotUnpaired(0.1).compute(shuffled(m), BETA)));
            assertClose(0.6565696508, mean(new Dpo().compute(shuffled(m), BETA)));
        }
        // on the shared batch the sorted deltas of aot are d itself: DPO's value
        assertClose(0.6496083621, loss(new Aot()));
        assertClose(0.6491718137, loss(new AotUnpaired()));
    }

    @Test
    void discopop() {
        // x = βd, m = σ(x/τ): mean (1 − m)(−logσ(x)) + m·exp(−x)
        assertClose(0.8581244485, loss(new DiscoPop()));
        assertClose(0.7881750934, loss(new DiscoPop(1.0)));
    }

    @Test
    void sigmoidNorm() {
        // mean −logσ(β(cl/|yc| − rl/|yr|)), |yc| = [5, 4], |yr| = [6, 3]
        assertClose(0.6846578126, loss(new SigmoidNorm()));
        assertTrue(new SigmoidNorm().needsReference());
    }

    @Test
    void apoZeroUnpaired() {
        try (NDManager m = NDManager.newBaseManager()) {
            // r = [1, −0.5, 0.5, 0.2], labels [T, F, T, F]: mean of w_d(1 − σ(βr)) and w_u·σ(βr)
            assertClose(0.4887564632, mean(new ApoZeroUnpaired().compute(Fixtures.unpaired(m), BETA)));
            assertClose(0.6053245126, mean(new ApoZeroUnpaired(2, 0.5).compute(Fixtures.unpaired(m), BETA)));
        }
        assertFalse(new ApoZeroUnpaired().needsMismatchedPairs());
        assertEquals(PreferenceLoss.DataKind.UNPAIRED, new ApoZeroUnpaired().dataKind());
    }

    @Test
    void createdByTrlNameWithTrlOptions() {
        assertTrue(Losses.create("exo_pair", Map.of("label_smoothing", 0.1)) instanceof ExoPair e && e.epsilon() == 0.1);
        assertTrue(Losses.create("discopop", Map.of("discopop_tau", "0.2")) instanceof DiscoPop d && d.tau() == 0.2);
        assertTrue(Losses.create("aot", Map.of("label_smoothing", 0.2)) instanceof Aot);
        assertTrue(Losses.create("aot_unpaired", Map.of()) instanceof AotUnpaired);
        assertTrue(Losses.create("bco_pair", null) instanceof BcoPair);
        assertTrue(Losses.create("sigmoid_norm", null) instanceof SigmoidNorm);
        assertTrue(Losses.create("apo_zero_unpaired", Map.of("desirable_weight", 1.5)) instanceof ApoZeroUnpaired a
                && a.desirableWeight() == 1.5);
        Align4jException tau = assertThrows(Align4jException.class, () -> Losses.create("discopop", Map.of("discopop_tau", 0)));
        assertTrue(tau.getMessage().contains("discopop_tau"), tau.getMessage());
        Align4jException other = assertThrows(Align4jException.class, () -> Losses.create("bco_pair", Map.of("discopop_tau", 1)));
        assertTrue(other.getMessage().contains("discopop"), other.getMessage());
        assertThrows(Align4jException.class, () -> Losses.create("exo_pair", Map.of("label_smoothing", 0.7)));
    }

    @Test
    void gradientsAgreeWithFiniteDifferences() {
        for (PreferenceLoss loss : new PreferenceLoss[] {new ExoPair(0.1), new BcoPair(), new Aot(0.1), new AotUnpaired(),
                new DiscoPop(), new SigmoidNorm(), new ApoZeroUnpaired(2, 0.5)}) {
            LossChecks.check(loss);
        }
    }
}
