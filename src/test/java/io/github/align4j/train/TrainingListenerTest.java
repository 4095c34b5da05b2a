package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingListenerTest {
    static {
        Offline.ensure();
    }

    private static TrainConfig cfg(Map<String, Object> extra) {
        return PreferenceTrainerTest.config(Map.of("max_steps", 6, "logging_steps", 2, "per_device_train_batch_size", 4))
                .with(extra, "test");
    }

    /** Every event arrives in order with metrics.jsonl's names; a listener's stop request ends the run with a checkpoint. */
    @Test
    void listenersSeeEveryEventAndCanStopTheRun(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 11);
        List<String> events = new ArrayList<>();
        List<Map<String, Double>> steps = new ArrayList<>();
        List<Map<String, Object>> logged = new ArrayList<>();
        TrainingListener l = new TrainingListener() {
            PreferenceTrainer trainer;

            @Override
            public void onTrainBegin(PreferenceTrainer t, long total) {
                trainer = t;
                events.add("begin " + total);
            }

            @Override
            public void onStepEnd(long step, Map<String, Double> m) {
                events.add("step " + step);
                steps.add(m);
                if (step == 4) {
                    trainer.requestStop("a listener");
                }
            }

            @Override
            public void onLog(Map<String, Object> record) {
                logged.add(record);
            }

            @Override
            public void onEvaluate(long step, Map<String, Double> m) {
                events.add("eval " + step + " " + m.containsKey("eval_rewards/accuracies"));
            }

            @Override
            public void onCheckpoint(Path p) {
                events.add("checkpoint " + p.getFileName());
            }

            @Override
            public void onTrainEnd(PreferenceTrainer.TrainResult r) {
                events.add("end " + r.steps() + " " + r.stopped());
            }
        };
        Path out = dir.resolve("out");
        try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(cfg(Map.of("eval_steps", 3, "save_steps", 2)))
                        .policy(policy).loss(Losses.create("dpo", Map.of())).trainPairs(SyntheticTask.pairs(40, 1))
                        .evalPairs(SyntheticTask.pairs(8, 2)).output(out).listener(l).build()) {
            PreferenceTrainer.TrainResult r = t.train();
            assertTrue(r.stopped());
            assertEquals(4, r.steps());
        }
        assertEquals(List.of("begin 6", "step 1", "checkpoint checkpoint-2", "step 2", "eval 3 true", "step 3",
                "checkpoint checkpoint-4", "step 4", "end 4 true"), events);
        for (int i = 0; i < steps.size(); i++) {
            Map<String, Double> m = steps.get(i);
            assertEquals(i + 1, m.get("step"), 0);
            for (String k : List.of("loss", "rewards/chosen", "rewards/accuracies", "logps/chosen", "learning_rate", "grad_norm",
                    "epoch")) {
                assertNotNull(m.get(k), k + " in " + m);
                assertTrue(Double.isFinite(m.get(k)), k + " in " + m);
            }
        }
        // the records a listener saw are metrics.jsonl's lines, in order
        List<String> lines = Files.readAllLines(out.resolve(OutputFolder.METRICS));
        assertEquals(lines.size(), logged.size());
        for (int i = 0; i < lines.size(); i++) {
            assertEquals(Checkpoints.json().readTree(lines.get(i)).path("step").asLong(),
                    ((Number) logged.get(i).get("step")).longValue());
        }
        // a logged window of one step (step 1) equals that step's own metrics
        assertEquals(((Number) logged.get(0).get("loss")).doubleValue(), steps.get(0).get("loss"), 0);
    }

    /** A second training in the same JVM is refused with a clear message while the first runs, and allowed after. */
    @Test
    void oneTrainingAtATimePerJvm(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 11);
        CountDownLatch firstIsTraining = new CountDownLatch(1);
        CountDownLatch secondTried = new CountDownLatch(1);
        AtomicReference<Throwable> firstFailed = new AtomicReference<>();
        TrainingListener holdAtStep1 = new TrainingListener() {
            @Override
            public void onStepEnd(long step, Map<String, Double> metrics) {
                if (step == 1) {
                    firstIsTraining.countDown();
                    try {
                        assertTrue(secondTried.await(60, TimeUnit.SECONDS));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
        try (CausalLM p1 = CausalLM.load(model, PreferenceTrainerTest.TRAIN);
                CausalLM p2 = CausalLM.load(model, PreferenceTrainerTest.TRAIN);
                PreferenceTrainer first = PreferenceTrainer.builder().config(cfg(Map.of())).policy(p1)
                        .loss(Losses.create("dpo", Map.of())).trainPairs(SyntheticTask.pairs(16, 1)).listener(holdAtStep1).build();
                PreferenceTrainer second = PreferenceTrainer.builder().config(cfg(Map.of())).policy(p2)
                        .loss(Losses.create("dpo", Map.of())).trainPairs(SyntheticTask.pairs(16, 1)).build()) {
            Thread a = new Thread(() -> {
                try {
                    first.train();
                } catch (Throwable e) {
                    firstFailed.set(e);
                    firstIsTraining.countDown();
                }
            }, "first-trainer");
            a.start();
            assertTrue(firstIsTraining.await(120, TimeUnit.SECONDS));
            Align4jException e;
            try {
                e = assertThrows(Align4jException.class, second::train);
                Align4jException sft = assertThrows(Align4jException.class, () -> SftTrainer.train(p2,
                        List.of(new SftTrainer.Example(new int[] {1, 2, 3}, 1)), cfg(Map.of("max_steps", 1)), null));
                assertTrue(sft.getMessage().contains("another training is running"), sft.getMessage());
            } finally {
                secondTried.countDown();
            }
            a.join(120_000);
            assertEquals(null, firstFailed.get());
            assertTrue(e.getMessage().contains("another training is running in this JVM: a PreferenceTrainer"), e.getMessage());
            assertTrue(e.getMessage().contains("thread 'first-trainer'"), e.getMessage());
            assertTrue(e.getMessage().contains("one gradient collector per JVM"), e.getMessage());
            assertEquals(6, second.train().steps()); // released when the first ended
        }
    }
}
