package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.index.NDIndex;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Dpo;
import io.github.align4j.model.CausalLM;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Weights that are NaN are never saved as "the last good weights": a policy whose weights turned
 * non-finite (here: set so by its host, since load refuses such files) stops with a message that
 * names the tensor and writes no checkpoint, instead of blaming the learning rate.
 */
class NanWeightsTest {
    static {
        Offline.ensure();
    }

    @TempDir
    static Path shared;
    static Path model;
    static List<TokenizedPair> data;

    @BeforeAll
    static void setUp() throws Exception {
        model = SyntheticTask.model(shared.resolve("model"), 5);
        data = SyntheticTask.pairs(12, 1);
    }

    /**
     * save_steps 0: the non-finite step policy's "last good weights" save (after max_nonfinite_steps
     * = 3 bad steps) is refused; save_steps 1: the first periodic save is refused.
     */
    @Test
    void nanWeightsStopTheRunWithoutACheckpoint(@TempDir Path dir) throws Exception {
        for (int saveSteps : new int[] {0, 1}) {
            Path out = dir.resolve("run" + saveSteps);
            TrainConfig cfg = ResumeTest.config(10, Map.of("save_steps", saveSteps, "logging_steps", 1,
                    "gradient_accumulation_steps", 1));
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            Align4jException e;
            try (CausalLM policy = CausalLM.load(model, ResumeTest.TRAIN)) {
                policy.parameters().get("model.layers.0.mlp.up_proj.weight").set(new NDIndex("0, 0"), Float.NaN);
                try (PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy).loss(new Dpo())
                        .trainPairs(data).output(out).console(new PrintStream(buf, true, StandardCharsets.UTF_8)).build()) {
                    e = assertThrows(Align4jException.class, t::train);
                }
            }
            int step = saveSteps == 0 ? 3 : 1;
            assertTrue(e.getMessage().startsWith("the policy's weights are not finite numbers (tensor "
                    + "'model.layers.0.mlp.up_proj.weight' holds NaN or infinity) at step " + step + ", so no checkpoint-"
                    + step + " was saved"), e.getMessage());
            assertFalse(e.getMessage().contains("learning_rate"), e.getMessage());
            try (Stream<Path> s = Files.list(out)) {
                List<String> names = s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("checkpoint")
                        || n.equals("final")).toList();
                assertEquals(List.of(), names, "no checkpoint of NaN weights");
            }
        }
    }

    /**
     * LoRA: the base is finite and only the adapter is saved, so the save-time check must cover the
     * adapter: a NaN in a lora_B stops the run at the "last good weights" save (after 3 non-finite
     * steps) naming that tensor, and no checkpoint holds the NaN adapter. The adapter file itself is
     * refused too ({@code saveAdapter}), leaving nothing behind.
     */
    @Test
    void aNanAdapterIsNeverSaved(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        TrainConfig cfg = ResumeTest.config(10, Map.of("logging_steps", 1, "gradient_accumulation_steps", 1));
        Align4jException e;
        String bad;
        try (CausalLM policy = CausalLM.load(model, LoraTrainerTest.FROZEN).addAdapters(LoraTrainerTest.LORA, 3)) {
            bad = policy.trainableParameters().keySet().stream().filter(k -> k.endsWith("lora_B.weight")).findFirst().get();
            policy.trainableParameters().get(bad).set(new NDIndex("0, 0"), Float.NaN);
            assertEquals(bad, policy.firstNonFiniteWeight());
            try (PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy).loss(new Dpo())
                    .trainPairs(data).output(out).console(new PrintStream(new ByteArrayOutputStream(), true,
                            StandardCharsets.UTF_8)).build()) {
                e = assertThrows(Align4jException.class, t::train);
            }
            Path adapter = dir.resolve("adapter");
            Align4jException save = assertThrows(Align4jException.class, () -> policy.saveAdapter(adapter));
            assertTrue(save.getMessage().contains("the adapter's tensor '" + bad + "' holds NaN at element 0"),
                    save.getMessage());
            try (Stream<Path> s = Files.list(adapter)) {
                assertEquals(List.of(), s.toList(), "no adapter file, no temporary file");
            }
        }
        assertTrue(e.getMessage().startsWith("the policy's weights are not finite numbers (tensor '" + bad
                + "' holds NaN or infinity) at step 3, so no checkpoint-3 was saved"), e.getMessage());
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(List.of(), s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("checkpoint")
                    || n.equals("final")).toList(), "no checkpoint of a NaN adapter");
        }
    }
}
