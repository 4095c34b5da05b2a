package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.nn.Activation;
import ai.djl.training.GradientCollector;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Dpo;
import io.github.align4j.loss.LossOutput;
import io.github.align4j.loss.PairedLogps;
import io.github.align4j.loss.PairedLoss;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.NativeChurn;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer makes the naive {@code in.margin().mul(beta)} loss safe: under garbage collection and recycled native
 * memory between forward and backward it gives exactly the gradients of the {@code Scalars}-based DPO.
 */
class KeepAliveTest {
    static {
        Offline.ensure();
    }

    /** DPO written as a user would without knowing about Scalars; optionally churns memory before backward. */
    static final class NaiveDpo implements PairedLoss {
        private final boolean churn;

        NaiveDpo(boolean churn) {
            this.churn = churn;
        }

        @Override
        public LossOutput compute(PairedLogps in, double beta) {
            NDArray z = in.margin().mul(beta); // the hazard: DJL's scalar is freed Java memory at the next GC
            NDArray losses = Activation.softPlus(z.neg());
            if (churn) {
                try {
                    NativeChurn.run(); // the trainer's backward follows right after this returns
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
            return LossOutput.of(losses);
        }
    }

    @Test
    void availableOnThePinnedDjl() {
        assertTrue(KeepAlive.available(), "DJL's NDScope.resources / PtNDArray.dataRef changed: see KeepAlive");
    }

    private static float[] gradient(PairedLoss loss, boolean keep, boolean churn) throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray pc = m.create(new float[] {-10f, -8f, -9f});
            NDArray pr = m.create(new float[] {-12f, -7f, -9.5f});
            pc.setRequiresGradient(true);
            pr.setRequiresGradient(true);
            PairedLogps in = new PairedLogps(pc, pr, m.create(new float[] {-11f, -8.5f, -9f}),
                    m.create(new float[] {-11.5f, -7.2f, -9.1f}), m.create(new float[] {5, 4, 3}),
                    m.create(new float[] {6, 3, 3}));
            try (KeepAlive k = keep ? KeepAlive.open() : null;
                    GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray mean = loss.compute(in, 0.7).losses().mean();
                if (churn) {
                    NativeChurn.run();
                }
                if (keep) {
                    assertTrue(k.buffersHeld() > 0, "the scalar's Java buffer is held");
                }
                gc.backward(mean);
            }
            return pc.getGradient().toFloatArray();
        }
    }

    @Test
    void naiveScalarProductGetsCorrectGradientsInsideTheScope() throws Exception {
        float[] safe = gradient(new Dpo(), false, false);
        for (int run = 0; run < 3; run++) {
            assertArrayEquals(safe, gradient(new NaiveDpo(false), true, true), 0f, "run " + run);
        }
    }

    /** The scope closes nothing and hands what it saw to the enclosing NDScope, which then closes it as usual. */
    @Test
    void scopeIsTransparentToAnEnclosingScope() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray inside;
            NDArray x = m.create(new float[] {1f, 2f});
            try (NDScope outer = new NDScope()) {
                try (KeepAlive k = KeepAlive.open()) {
                    inside = x.mul(3); // registered while the KeepAlive scope is innermost
                }
                assertEquals(6f, inside.getFloat(1)); // still open after the KeepAlive scope closed
                outer.suppressNotUsedWarning();
            }
            assertTrue(inside.isReleased(), "the enclosing scope closed it");
            assertFalse(x.isReleased());
        }
    }

    /**
     * Through the real trainer: a naive DPO that forces a GC and refills freed memory right before backward trains
     * to the same weights as the built-in DPO.
     */
    @Test
    void trainerMakesTheNaiveLossSafe(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        float[][] w = new float[2][];
        PairedLoss[] losses = {new Dpo(), new NaiveDpo(true)};
        for (int i = 0; i < 2; i++) {
            TrainConfig cfg = PreferenceTrainerTest.config(Map.of("max_steps", 3, "per_device_train_batch_size", 4));
            try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN);
                    PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy).loss(losses[i])
                            .trainPairs(SyntheticTask.pairs(12, 1)).console(null).build()) {
                t.train();
                w[i] = policy.parameters().get("model.layers.0.self_attn.q_proj.weight").toFloatArray();
            }
        }
        assertArrayEquals(w[0], w[1], 1e-7f);
    }
}
