package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.loss.KtoPair;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainConfigBuilderTest {
    @Test
    void typedSettersMatchTheKeyMap() {
        TrainConfig a = TrainConfig.builder().beta(0.2).learningRate(1e-6).batchSize(4).gradientAccumulationSteps(2)
                .shuffle(false).lossType("ipo").maxLength(256).maxPromptLength(128).build();
        TrainConfig b = TrainConfig.defaults().with(Map.of("beta", 0.2, "learning_rate", 1e-6, "per_device_train_batch_size", 4,
                "gradient_accumulation_steps", 2, "shuffle", false, "loss_type", "ipo", "max_length", 256,
                "max_prompt_length", 128), "test");
        assertEquals(b.asMap(), a.asMap());
        assertEquals(0.2, a.lossSpec().beta());
        assertEquals(a.asMap(), a.toBuilder().build().asMap());
        String bad = assertThrows(Align4jException.class, () -> TrainConfig.builder().beta(-1)).getMessage();
        assertTrue(bad.contains("'beta'") && bad.contains("> 0"), bad);
        String cross = assertThrows(Align4jException.class,
                () -> TrainConfig.builder().maxLength(100).maxPromptLength(100).build()).getMessage();
        assertTrue(cross.contains("max_prompt_length"), cross);
    }

    @Test
    void lossKwargsFromYamlAndText(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("r.yaml");
        Files.writeString(f, "loss_type: kto_pair\nloss_kwargs:\n  kl_detach: true\nloss_weights: {dpo: 1, sft: 0.5}\n");
        TrainConfig c = TrainConfig.fromYaml(f, TrainConfig.defaults(), new ArrayList<>());
        assertEquals(Map.of("kl_detach", true), c.lossSpec().kwargs());
        assertEquals(Map.of("dpo", 1.0, "sft", 0.5), c.lossSpec().weights());
        assertEquals("dpo=1,sft=0.5", c.get("loss_weights"));
        TrainConfig t = TrainConfig.defaults().with("loss_kwargs", "kl_detach=false,length_alpha=0.2,mode=fast", "--loss-option");
        assertEquals(Map.of("kl_detach", false, "length_alpha", 0.2, "mode", "fast"), t.lossSpec().kwargs());
        assertTrue(((KtoPair) TrainConfig.builder().lossType("kto_pair").lossOption("kl_detach", "true").build().loss())
                .klDetach());
        String dup = assertThrows(Align4jException.class,
                () -> TrainConfig.builder().lossOption("label_smoothing", 0.1)).getMessage();
        assertTrue(dup.contains("set label_smoothing directly"), dup);
        String unused = assertThrows(Align4jException.class,
                () -> TrainConfig.builder().lossType("ipo").lossOption("kl_detach", false).build().loss()).getMessage();
        assertTrue(unused.contains("kl_detach") && unused.contains("kto_pair"), unused);
        Files.writeString(f, "loss_kwargs:\n  nested: {a: 1}\n");
        String nested = assertThrows(Align4jException.class,
                () -> TrainConfig.fromYaml(f, TrainConfig.defaults(), new ArrayList<>())).getMessage();
        assertTrue(nested.contains("r.yaml:1") && nested.contains("nested"), nested);
    }

    /** A weighted loss is shown as a recipe writes it, not as a Java map. */
    @Test
    void aPlanShowsLossWeightsAsWritten() {
        TrainConfig c = TrainConfig.builder().modelPath("/nonexistent/model").trainFile("/nonexistent/d.jsonl")
                .outputDir("/nonexistent/out").lossWeights("dpo=1, sft=0.5").build();
        List<String> lines = PreferenceRun.builder().config(c).build().plan(true).lines();
        assertTrue(lines.contains("loss:   dpo=1,sft=0.5, β=0.1"), lines.toString());
    }
}
