package io.github.align4j.loss;

import static io.github.align4j.loss.Fixtures.BETA;
import static io.github.align4j.loss.Fixtures.assertClose;
import static io.github.align4j.loss.Fixtures.mean;
import static io.github.align4j.loss.Fixtures.pairs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDManager;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** TRL's reference_free: the reference's log-probs are 0, by hand on the shared batch (πc − πr = [2, −1], β = 0.1). */
class ReferenceFreeTest {
    @BeforeAll
    static void offline() {
        Offline.ensure();
    }

    @Test
    void dpoWithoutAReferenceByHand() {
        PreferenceLoss free = ReferenceFree.wrap(new Dpo());
        assertFalse(free.needsReference());
        assertEquals(true, free.options().get("reference_free"));
        try (NDManager m = NDManager.newBaseManager()) {
            // mean −logσ(β(πc − πr)); the fixture's reference arrays are ignored
            assertClose(0.6712677647, mean(((PairedLoss) free).compute(pairs(m), BETA)));
        }
        LossChecks.check(free);
    }

    @Test
    void lossesWithoutAReferenceAreLeftAndUnpairedOnesRefused() {
        Simpo simpo = new Simpo();
        assertSame(simpo, ReferenceFree.wrap(simpo));
        assertThrows(Align4jException.class, () -> ReferenceFree.wrap(new Kto()));
    }
}
