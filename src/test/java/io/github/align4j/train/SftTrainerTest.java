package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.align4j.Align4jException;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.SequenceScorer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SftTrainerTest {
    static final CausalLM.Options TRAIN = CausalLM.Options.training().withDevice(Device.cpu());

    static List<SftTrainer.Example> corpus(int n, long seed, boolean promptMasked) {
        Random r = new Random(seed);
        List<SftTrainer.Example> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] ids = r.ints(6 + r.nextInt(5), 3, 32).toArray();
            out.add(new SftTrainer.Example(ids, promptMasked ? 3 : 0));
        }
        return out;
    }

    static TrainConfig cfg(Object... kv) {
        TrainConfig c = TrainConfig.defaults().with("learning_rate", 1e-2, "test").with("lr_scheduler_type", "constant", "test")
                .with("per_device_train_batch_size", 4, "test").with("logging_steps", 10, "test").with("seed", 1, "test");
        for (int i = 0; i < kv.length; i += 2) {
            c = c.with((String) kv[i], kv[i + 1], "test");
        }
        return c;
    }

    static Map<String, float[]> weights(CausalLM lm) {
        Map<String, float[]> m = new java.util.LinkedHashMap<>();
        lm.parameters().forEach((k, v) -> m.put(k, v.toFloatArray()));
        return m;
    }

    @Test
    void lossFallsOnAMemorisableCorpus() throws Exception {
        try (CausalLM lm = CausalLM.init(SyntheticTask.config(), 3, TRAIN)) {
            List<SftTrainer.Example> data = corpus(8, 1, true);
            List<Double> losses = SftTrainer.train(lm, data, cfg("max_steps", 40, "learning_rate", 2e-2), null);
            assertEquals(4, losses.size(), "one value per 10 steps");
            assertTrue(losses.get(0) < Math.log(32), "the first window starts at ln V and falls: " + losses);
            for (int i = 1; i < losses.size(); i++) {
                assertTrue(losses.get(i) < losses.get(i - 1), "falls in every window: " + losses);
            }
            assertTrue(losses.get(3) < 0.15 * losses.get(0), "memorised: " + losses);
            // steady native memory: a second run (masks of these lengths now cached) leaves no array behind
            int before = lm.liveArrays();
            SftTrainer.train(lm, data, cfg("max_steps", 2), null);
            assertEquals(before, lm.liveArrays(), "optimizer moments and step arrays are freed");
        }
    }

    @Test
    void sameSeedGivesBitIdenticalWeights() throws Exception {
        List<SftTrainer.Example> data = corpus(10, 2, false);
        TrainConfig c = cfg("max_steps", 4, "gradient_accumulation_steps", 2, "max_grad_norm", 0.5, "weight_decay", 0.1,
                "warmup_steps", 2, "lr_scheduler_type", "cosine");
        Map<String, float[]> a;
        Map<String, float[]> b;
        Map<String, float[]> other;
        try (CausalLM lm = CausalLM.init(SyntheticTask.config(), 5, TRAIN)) {
            SftTrainer.train(lm, data, c, null);
            a = weights(lm);
        }
        try (CausalLM lm = CausalLM.init(SyntheticTask.config(), 5, TRAIN)) {
            SftTrainer.train(lm, data, c, null);
            b = weights(lm);
        }
        try (CausalLM lm = CausalLM.init(SyntheticTask.config(), 5, TRAIN)) {
            SftTrainer.train(lm, data, c.with("seed", 2, "test"), null);
            other = weights(lm);
        }
        boolean differs = false;
        for (String k : a.keySet()) {
            assertArrayEquals(a.get(k), b.get(k), k);
            differs |= !Arrays.equals(a.get(k), other.get(k));
        }
        assertTrue(differs, "another seed shuffles the data differently");
    }

    /**
     * With learning rate 0 the logged loss is the initial token-mean NLL: over completion tokens
     * (from completionStart) or over every token after the first (completionStart 0).
     */
    @Test
    void loggedLossIsTheTokenMeanNll() throws Exception {
        for (boolean masked : new boolean[] {true, false}) {
            List<SftTrainer.Example> data = corpus(4, 3, masked);
            try (CausalLM lm = CausalLM.init(SyntheticTask.config(), 7, TRAIN)) {
                double nll = 0;
                double tokens = 0;
                try (NDManager m = lm.manager().newSubManager()) {
                    for (SftTrainer.Example e : data) {
                        SequenceScorer.Scores s = SequenceScorer.score(lm, m, new int[][] {e.ids()}, new int[] {e.completionStart()});
                        nll -= s.logps().getFloat();
                        tokens += s.tokens().getFloat();
                        assertEquals(masked ? e.ids().length - 3 : e.ids().length - 1, s.tokens().getFloat());
                    }
                }
                Map<String, float[]> w0 = weights(lm);
                List<Double> l = SftTrainer.train(lm, data, cfg("learning_rate", 0.0, "max_steps", 1, "shuffle", false), null);
                assertEquals(1, l.size());
                assertEquals(nll / tokens, l.get(0), 1e-4);
                Map<String, float[]> w1 = weights(lm);
                w0.forEach((k, v) -> assertArrayEquals(v, w1.get(k), k));
            }
        }
    }

    @Test
    void userErrors() throws Exception {
        assertThrows(Align4jException.class, () -> new SftTrainer.Example(new int[] {1}, 0));
        assertThrows(Align4jException.class, () -> new SftTrainer.Example(new int[] {1, 2, 3}, 3));
        try (CausalLM frozen = CausalLM.init(SyntheticTask.config(), 1, CausalLM.Options.inference().withDevice(Device.cpu()))) {
            Align4jException e = assertThrows(Align4jException.class,
                    () -> SftTrainer.train(frozen, corpus(2, 1, true), cfg(), null));
            assertTrue(e.getMessage().contains("training()"), e.getMessage());
        }
        try (CausalLM lm = CausalLM.init(SyntheticTask.config(), 1, TRAIN)) {
            assertThrows(Align4jException.class, () -> SftTrainer.train(lm, List.of(), cfg(), null));
        }
        assertFalse(SftTrainer.totalSteps(10, cfg("num_train_epochs", 2.0)) != 6, "ceil(10/4) × 2 epochs");
    }
}
