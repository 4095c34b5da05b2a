package io.github.align4j.loss;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Activation;
import io.github.align4j.internal.Offline;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every built-in loss passes {@link LossChecks}; each kind of broken loss fails with a message naming the fix. */
class LossChecksTest {
    @BeforeAll
    static void offline() {
        Offline.ensure();
    }

    @Test
    void everyBuiltInLossPasses() {
        for (String name : Losses.builtins()) {
            // kto_pair detaches its batch KL estimate (as TRL does), which finite differences would see
            LossChecks.check(Losses.create(name, Map.of()), 0.1, !name.equals("kto_pair"));
        }
        LossChecks.check(new Dpo(0.2), 0.5);
        LossChecks.check(new ScaledDpo(Map.of("scale", 3.0)));
        LossChecks.check(new com.example.SoftHingeLoss()); // docs/training.md's example
    }

    /** DPO as a user might write it: right values, but DJL's mul(Number) leaves freed Java memory in the graph. */
    static final class NaiveDpo implements PairedLoss {
        @Override
        public LossOutput compute(PairedLogps in, double beta) {
            return LossOutput.of(Activation.softPlus(in.margin().mul(beta).neg()));
        }
    }

    private static String failure(PreferenceLoss loss) {
        return assertThrows(AssertionError.class, () -> LossChecks.check(loss)).getMessage();
    }

    @Test
    void naiveScalarProductFailsTheGarbageCollectionCheck() {
        String m = failure(new NaiveDpo());
        assertTrue(m.contains("'NaiveDpo'") && m.contains("garbage collector") && m.contains("Scalars.times(x, beta)")
                && m.contains("batch of 1"), m);
    }

    @Test
    void nonFiniteLossFails() {
        String m = failure((PairedLoss) (in, beta) -> LossOutput.of(in.policyChosen().log())); // log of a negative
        assertTrue(m.contains("not finite") && m.contains("NaN"), m);
    }

    @Test
    void wrongShapeFails() {
        String m = failure((PairedLoss) (in, beta) -> LossOutput.of(
                Activation.softPlus(Scalars.times(in.margin(), beta).neg()).expandDims(1)));
        assertTrue(m.contains("shape (1, 1)") && m.contains("1-d array"), m);
    }

    @Test
    void float64LossFails() {
        String m = failure((PairedLoss) (in, beta) -> LossOutput.of(
                Activation.softPlus(Scalars.times(in.margin(), beta).neg()).toType(DataType.FLOAT64, false)));
        assertTrue(m.contains("float64") && m.contains("x.add(1f)"), m);
    }

    @Test
    void gradientCutFromTheGraphFails() {
        String m = failure((PairedLoss) (in, beta) -> {
            NDArray d = in.margin();
            return LossOutput.of(Activation.softPlus(Scalars.times(d, beta).neg()).add(d.stopGradient().mul(d.stopGradient())));
        });
        assertTrue(m.contains("finite differences") && m.contains("policyChosen[0]"), m);
        String kto = assertThrows(AssertionError.class, () -> LossChecks.check(new KtoPair())).getMessage();
        assertTrue(kto.contains("check(loss, beta, false)"), kto);
    }

    @Test
    void lossIgnoringThePolicyFails() {
        String m = failure((PairedLoss) (in, beta) -> LossOutput.of(in.chosenTokens().neg().add(1f)));
        assertTrue(m.contains("backward failed") && m.contains("does not depend on the policy"), m);
        m = failure((PairedLoss) (in, beta) -> LossOutput.of(Scalars.times(in.policyChosen(), 0).add(1f)));
        assertTrue(m.contains("zero on every batch") && m.contains("does not depend on the policy"), m);
    }

    @Test
    void nonFiniteMetricFails() {
        String m = failure((PairedLoss) (in, beta) -> new LossOutput(
                Activation.softPlus(Scalars.times(in.margin(), beta).neg()), Map.of("bad", in.policyChosen().log().mean())));
        assertTrue(m.contains("metric 'bad'"), m);
    }
}
