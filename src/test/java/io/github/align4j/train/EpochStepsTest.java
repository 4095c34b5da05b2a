package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.CausalLM;
import io.github.align4j.train.internal.Batches;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An epoch ends with a shorter optimizer step (transformers ≥ 4.46): no step mixes rows of two epochs. */
class EpochStepsTest {
    static {
        Offline.ensure();
    }

    private static TrainConfig cfg(int examples, int accumulation, double epochs) {
        return PreferenceTrainerTest.config(Map.of("max_steps", 0, "num_train_epochs", epochs, "per_device_train_batch_size", 4,
                "gradient_accumulation_steps", accumulation, "logging_steps", 1, "warmup_ratio", 0.0));
    }

    @Test
    void totalStepsCountAShortStepPerEpoch() {
        assertEquals(14, TrainLoop.totalSteps(50, cfg(50, 2, 2.0)), "13 micro-batches an epoch: 7 steps an epoch");
        assertEquals(7, TrainLoop.totalSteps(50, cfg(50, 2, 1.0)));
        assertEquals(11, TrainLoop.totalSteps(50, cfg(50, 2, 1.5)), "⌈1.5 × 7⌉, transformers' max_steps");
        assertEquals(1, TrainLoop.totalSteps(50, cfg(50, 2, 0.01)), "at least one step");
        assertEquals(5, TrainLoop.totalSteps(50, cfg(50, 3, 1.0)), "⌈13 / 3⌉");
        assertEquals(13, TrainLoop.totalSteps(50, cfg(50, 1, 1.0)));
        assertEquals(14, PreferenceTrainer.totalSteps(50, cfg(50, 2, 2.0)), "the public formula is the trainer's");
        assertEquals(9, TrainLoop.totalSteps(50, cfg(50, 2, 2.0).with("max_steps", 9, "test")), "max_steps wins");
    }

    /** The walk through the data: 50 rows, batch 4, accumulation 2, 2 epochs → 14 steps; steps 7 and 14 have one micro-batch. */
    @Test
    void everyRowOnceAnEpochAndEpochWholeAtItsEnd() {
        Position pos = new Position(e -> Batches.epoch(50, 4, 7, e, true, false, i -> 1));
        List<Integer> sizes = new ArrayList<>();
        int[][] seen = new int[2][50];
        for (int step = 1; step <= 14; step++) {
            int epoch = pos.next == pos.microPerEpoch() ? pos.epoch + 1 : pos.epoch;
            List<int[]> rows = TrainLoop.nextStep(pos, 2);
            sizes.add(rows.size());
            for (int[] b : rows) {
                for (int i : b) {
                    seen[epoch][i]++;
                }
            }
            assertEquals(epoch, pos.epoch, "step " + step + " stays in one epoch");
            if (step == 7 || step == 14) {
                assertEquals(step / 7, pos.epochs(), 0.0, "epoch logged at step " + step);
            }
        }
        assertEquals(List.of(2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1), sizes);
        for (int e = 0; e < 2; e++) {
            for (int i = 0; i < 50; i++) {
                assertEquals(1, seen[e][i], "row " + i + " in epoch " + (e + 1));
            }
        }
        Position p = new Position(e -> Batches.epoch(50, 4, 7, e, true, false, i -> 1));
        for (int k = 0; k < 6; k++) {
            p.nextBatch();
        }
        assertEquals(6.0 / 13, p.epochs(), 1e-15, "micro-batches done over micro-batches an epoch");
    }

    /** The trainer itself: 14 steps, every row once an epoch, epoch 1.0 logged at step 7 and 2.0 at 14. */
    @Test
    void trainerEndsEveryEpochWithAShorterStep(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 11);
        List<TokenizedPair> data = SyntheticTask.pairs(50, 3);
        Map<Long, Integer> microPerStep = new LinkedHashMap<>();
        int[][] seen = new int[2][50];
        Map<Long, Double> epochs = new LinkedHashMap<>();
        try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(cfg(50, 2, 2.0)).policy(policy).trainPairs(data)
                        .stepRows((step, rows) -> {
                            microPerStep.put(step, rows.size());
                            for (int[] b : rows) {
                                for (int i : b) {
                                    seen[step <= 7 ? 0 : 1][i]++;
                                }
                            }
                        })
                        .listener(new TrainingListener() {
                            @Override
                            public void onStepEnd(long step, Map<String, Double> m) {
                                epochs.put(step, m.get("epoch"));
                            }
                        }).build()) {
            assertEquals(14, t.totalSteps());
            PreferenceTrainer.TrainResult r = t.train();
            assertEquals(14, r.steps());
            assertEquals(2.0, r.epochs(), 0.0);
        }
        assertEquals(14, microPerStep.size());
        microPerStep.forEach((step, n) -> assertEquals(step % 7 == 0 ? 1 : 2, n, "micro-batches of step " + step));
        for (int e = 0; e < 2; e++) {
            for (int i = 0; i < 50; i++) {
                assertEquals(1, seen[e][i], "pair " + i + " in epoch " + (e + 1));
            }
        }
        assertEquals(1.0, epochs.get(7L), 0.0);
        assertEquals(2.0, epochs.get(14L), 0.0);
        assertEquals(1 + 2.0 / 13, epochs.get(8L), 1e-12);
    }

    /**
     * The short step's gradient is the mean over its own micro-batches: one micro-batch of 4 pairs
     * with accumulation 2 (a one-micro-batch epoch) updates the weights exactly as with accumulation 1.
     */
    @Test
    void shortStepDividesByItsOwnMicroBatches(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        List<TokenizedPair> data = SyntheticTask.pairs(4, 9);
        Map<String, float[]> withTwo = trainOneStep(model, data, 2);
        Map<String, float[]> withOne = trainOneStep(model, data, 1);
        Map<String, float[]> before = weights(model);
        assertEquals(withOne.keySet(), withTwo.keySet());
        boolean moved = false;
        for (String k : withOne.keySet()) {
            assertArrayEquals(withOne.get(k), withTwo.get(k), 0f, k);
            moved |= !java.util.Arrays.equals(before.get(k), withOne.get(k));
        }
        assertTrue(moved, "the step changed the weights");
    }

    private static Map<String, float[]> trainOneStep(Path model, List<TokenizedPair> data, int accumulation) {
        try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(cfg(4, accumulation, 1.0)).policy(policy)
                        .trainPairs(data).build()) {
            assertEquals(1, t.totalSteps());
            t.train();
            return copy(policy);
        }
    }

    private static Map<String, float[]> weights(Path model) {
        try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN)) {
            return copy(policy);
        }
    }

    private static Map<String, float[]> copy(CausalLM policy) {
        Map<String, float[]> m = new LinkedHashMap<>();
        policy.parameters().forEach((k, v) -> m.put(k, v.toFloatArray()));
        return m;
    }
}
