package com.example.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.PreferenceRun;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import io.github.align4j.train.TrainingListener;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Map;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.TestMethodOrder;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * What a Java team gets from the align4j artifact alone (plus a natives block): a YAML recipe trains
 * the application's own loss with its option through the public API, a listener receives the
 * metrics, DJL and align4j log into this application's logback, and the JVM-wide settings the
 * application chose are left as they were.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConsumerTest {
    @Test
    @Order(1)
    void trainsDpoWithTheApplicationsOwnLoggingAndSettings(@TempDir Path tmp) throws Exception {
        // The application's choice (surefire's systemPropertyVariables, i.e. -Dai.djl.offline=false).
        assertEquals("false", System.getProperty("ai.djl.offline"));
        // Its own SLF4J binding is the one in use: align4j brings none (no slf4j-nop).
        assertInstanceOf(LoggerContext.class, LoggerFactory.getILoggerFactory());
        // The command line's dependencies are not part of what this project received.
        assertThrows(ClassNotFoundException.class, () -> Class.forName("picocli.CommandLine"));
        assertThrows(ClassNotFoundException.class, () -> Class.forName("org.knowm.xchart.XYChart"));
        assertThrows(ClassNotFoundException.class, () -> Class.forName("org.slf4j.nop.NOPLoggerFactory"));

        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ListAppender<ILoggingEvent> seen = new ListAppender<>();
        seen.start();
        root.addAppender(seen);
        List<TrainDpo.Run> runs;
        try {
            runs = TrainDpo.run(tmp);
        } finally {
            root.detachAppender(seen);
        }
        // DPO from its recipe: at step 1 the policy is the reference, so the loss is ln 2.
        assertEquals(Math.log(2), runs.get(0).steps().get(0).get("loss"), 1e-5);
        assertTrue(Files.isRegularFile(runs.get(0).output().resolve("final/model.safetensors")));
        TrainDpo.Run result = runs.get(1);
        Path run = result.output();

        List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(3, metrics.stream().filter(l -> l.contains("\"loss\"")).count(), String.join("\n", metrics));
        // The listener saw every step; at step 1 the policy is the reference (d = 0), so the loss is
        // softplus(β·m) = ln(1 + e^0.05) with the recipe's target_margin m = 0.5 and β = 0.1.
        assertEquals(3, result.steps().size());
        assertEquals(Math.log1p(Math.exp(0.05)), result.steps().get(0).get("loss"), 1e-5);
        assertTrue(result.steps().get(2).get("loss") < result.steps().get(0).get("loss"), "the loss falls: " + result.steps());
        // trainer_state.json records the loss actually trained, with its option.
        String state = Files.readString(run.resolve("final/trainer_state.json"));
        assertTrue(state.contains("com.example.consumer.MarginDpoLoss") && state.contains("target_margin"), state);
        assertTrue(Files.isRegularFile(run.resolve("final/model.safetensors")), "final checkpoint");
        // The settings the application chose are still its own.
        assertEquals("false", System.getProperty("ai.djl.offline"));
        // DJL's logging and the application's own reached its logback.
        assertTrue(seen.list.stream().anyMatch(e -> e.getLoggerName().startsWith("ai.djl")),
                "no ai.djl log event reached logback: " + seen.list);
        assertTrue(seen.list.stream().anyMatch(e -> e.getFormattedMessage().startsWith("trained com.example.consumer.MarginDpoLoss into")));
        // align4j's own messages go through SLF4J too, never to the console (the second recipe
        // precomputes the reference log-probs, which the trainer reports).
        assertTrue(seen.list.stream().anyMatch(e -> e.getLoggerName().startsWith("io.github.align4j")
                && e.getFormattedMessage().startsWith("reference log-probs")),
                "no io.github.align4j log event reached logback: " + seen.list);
        // A run logs as the Hugging Face Trainer does: a start block, every logging step with TRL's names, the end.
        List<String> trainer = seen.list.stream().filter(e -> e.getLoggerName().equals("io.github.align4j.train.PreferenceTrainer"))
                .map(ILoggingEvent::getFormattedMessage).toList();
        assertTrue(trainer.stream().anyMatch(m -> m.startsWith("***** Running training ***** 8 pairs")
                && m.contains("3 optimization steps") && m.contains("parameters trainable")), trainer.toString());
        assertTrue(trainer.stream().filter(m -> m.startsWith("{'loss': ") && m.contains("'rewards/margins': ")).count() >= 3,
                trainer.toString());
        assertTrue(trainer.stream().anyMatch(m -> m.startsWith("training done: 3 steps in ") && m.contains("tokens/s")
                && m.contains("result in ")), trainer.toString());
    }

    /**
     * The README's LoRA-DPO task from an application: held-out split, listener, PEFT adapter saved, merged into a full
     * checkpoint, and the merged model scoring completions as the adapter does. Runs second: the first test checks that
     * DJL's engine start logs into this application's logback.
     */
    @Test
    @Order(2)
    void loraDpoSplitListenerSaveMergeScore(@TempDir Path tmp) throws Exception {
        Path model = TrainDpo.tinyModel(tmp.resolve("model"));
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            rows.add("{\"prompt\": \"Question " + i + ": is the sky blue?\\nAnswer:\", \"chosen\": \" Yes, it is blue.\","
                    + " \"rejected\": \" No" + ".".repeat(i % 3 + 1) + "\"}");
        }
        Path data = tmp.resolve("pairs.jsonl");
        Files.write(data, rows, StandardCharsets.UTF_8);
        Path out = tmp.resolve("run");
        List<Double> accuracies = new ArrayList<>();

        TrainConfig cfg = TrainConfig.builder().modelPath(model.toString()).trainFile(data.toString()).evalSplit(0.1)
                .usePeft(true).loraR(8).loraAlpha(16).loraTargetModules("all-linear")
                .lossType("dpo").beta(0.1).learningRate(5e-3).maxSteps(10).outputDir(out.toString()).build();
        PreferenceTrainer.TrainResult r = PreferenceRun.builder().config(cfg).listener(new TrainingListener() {
            @Override
            public void onEvaluate(long step, Map<String, Double> m) {
                accuracies.add(m.get("eval_rewards/accuracies"));
            }
        }).build().train();
        try (CausalLM lm = CausalLM.load(model, CausalLM.Options.inference()).loadAdapter(out.resolve("final"), false)) {
            lm.saveMerged(out.resolve("merged"));
        }
        double[] merged;
        try (CausalLM lm = CausalLM.load(out.resolve("merged"), CausalLM.Options.inference());
                TextTokenizer tok = TextTokenizer.load(out.resolve("merged"))) {
            merged = lm.score(tok, "Question 3: is the sky blue?\nAnswer:", " Yes, it is blue.", " No.");
        }

        assertEquals(10, r.steps());
        assertNotNull(r.lastEval());
        assertEquals(1, accuracies.size(), "one evaluation, at the end");
        assertTrue(Files.isRegularFile(out.resolve("final/adapter_model.safetensors")));
        assertFalse(Files.exists(out.resolve("final/model.safetensors")));
        double[] adapted;
        try (CausalLM lm = CausalLM.load(model, CausalLM.Options.inference()).loadAdapter(out.resolve("final"), false);
                TextTokenizer tok = TextTokenizer.load(model)) {
            adapted = lm.score(tok, "Question 3: is the sky blue?\nAnswer:", " Yes, it is blue.", " No.");
        }
        assertEquals(adapted[0], merged[0], 1e-4);
        assertEquals(adapted[1], merged[1], 1e-4);
        double[] base;
        try (CausalLM lm = CausalLM.load(model, CausalLM.Options.inference()); TextTokenizer tok = TextTokenizer.load(model)) {
            base = lm.score(tok, "Question 3: is the sky blue?\nAnswer:", " Yes, it is blue.", " No.");
        }
        assertTrue(merged[0] - merged[1] > base[0] - base[1] + 0.1, "DPO widened the chosen-over-rejected margin: "
                + (base[0] - base[1]) + " -> " + (merged[0] - merged[1]));
    }
}
