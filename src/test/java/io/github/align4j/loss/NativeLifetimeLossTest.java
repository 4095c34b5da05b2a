package io.github.align4j.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.NativeChurn;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every built-in loss gives the same gradients whether or not the garbage collector ran, and recycled native
 * memory, between forward and backward (see {@link Scalars} for why DJL's scalar arithmetic would not).
 */
class NativeLifetimeLossTest {
    @BeforeAll
    static void offline() {
        Offline.ensure();
    }

    private static float[] gradient(PreferenceLoss loss, boolean churn) throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray policy;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray mean;
                if (loss instanceof PairedLoss pl) {
                    PairedLogps p = Fixtures.pairs(m);
                    policy = p.policyChosen();
                    policy.setRequiresGradient(true);
                    p.policyRejected().setRequiresGradient(true);
                    mean = pl.compute(p, 0.7).losses().mean();
                } else {
                    UnpairedLogps u = Fixtures.unpaired(m);
                    policy = u.policy();
                    policy.setRequiresGradient(true);
                    mean = ((UnpairedLoss) loss).compute(u, 0.7).losses().mean();
                }
                if (churn) {
                    NativeChurn.run();
                }
                gc.backward(mean);
            }
            return policy.getGradient().toFloatArray();
        }
    }

    @Test
    void builtInLossGradientsSurviveGarbageCollection() throws Exception {
        List<String> names = new ArrayList<>(Losses.builtins());
        assertTrue(names.size() >= 12, names.toString());
        for (String name : names) {
            PreferenceLoss loss = Losses.create(name, Map.of());
            float[] calm = gradient(loss, false);
            float[] churned = gradient(loss, true);
            assertArrayEquals(calm, churned, 0f, name);
            double sum = 0;
            for (float g : calm) {
                sum += Math.abs(g);
            }
            assertTrue(sum > 1e-6, name + " has a gradient");
        }
    }

    @Test
    void scalarsKeepTheirOperandAliveForBackward() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {1f, 2f, 4f});
            x.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray y = Scalars.times(x, 3).add(Scalars.divide(x, 4)).add(Scalars.pow(x, 2))
                        .add(Scalars.maximum(x, 1.5)).add(Scalars.minimum(x, 3)).sum();
                NDArray idx = Scalars.owned(m.create(new long[] {2, 0}, new Shape(2)));
                NDArray picked = x.gather(idx, 0).sum();
                idx.close();
                NativeChurn.run();
                gc.backward(y.add(picked));
            }
            // d/dx [3x + x/4 + x² + max(x,1.5) + min(x,3)] + gather counts [1, 0, 1]
            float[] expected = {3 + 0.25f + 2 + 0 + 1 + 1, 3 + 0.25f + 4 + 1 + 1 + 0, 3 + 0.25f + 8 + 1 + 0 + 1};
            assertArrayEquals(expected, x.getGradient().toFloatArray(), 1e-6f);
        }
    }
}
