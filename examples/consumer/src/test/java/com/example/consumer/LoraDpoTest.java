package com.example.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.PreferenceRun;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import io.github.align4j.train.TrainingListener;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's LoRA-DPO task from an application that depends on the installed artifact: held-out split, listener,
 * PEFT adapter saved, merged into a full checkpoint, and the merged model scoring completions as the adapter does.
 */
class LoraDpoTest {
    @Test
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
