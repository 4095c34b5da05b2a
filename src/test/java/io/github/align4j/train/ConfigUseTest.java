package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.loss.Ipo;
import io.github.align4j.loss.LengthAlphaLoss;
import io.github.align4j.model.CausalLM;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The library trainer uses loss_type, label_smoothing, loss_kwargs, max_length and device, or refuses them. */
class ConfigUseTest {
    private static TrainConfig.Builder base() {
        return TrainConfig.builder().beta(0.1).learningRate(3e-3).lrSchedulerType("constant").batchSize(8)
                .maxSteps(2).loggingSteps(1).seed(7);
    }

    private static double lastLoss(Path model, TrainConfig cfg) throws Exception {
        try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy)
                        .trainPairs(SyntheticTask.pairs(16, 1)).console(null).build()) {
            return ((Number) t.train().lastTrain().get("loss")).doubleValue();
        }
    }

    @Test
    void theConfigsLossIsTrained(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        double dpo = lastLoss(model, base().build());
        double smoothed = lastLoss(model, base().labelSmoothing(0.3).build());
        assertNotEquals(dpo, smoothed, 1e-4, "label_smoothing changes the loss");
        // IPO at policy = reference: (0 − 1/(2β))² = 25 on the first step
        assertEquals(25.0, lastLoss(model, base().lossType("ipo").maxSteps(1).build()), 1e-3);
        double custom = lastLoss(model, base().lossType(LengthAlphaLoss.class.getName()).lossOption("length_alpha", 1.0)
                .maxSteps(1).build());
        assertEquals(2 * Math.log(2), custom, 1e-5, "a custom loss gets length_alpha from loss_kwargs");
    }

    @Test
    void aLossTwiceOrDataOrDeviceTheTrainerCannotHonourIsRefused(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN)) {
            String both = assertThrows(Align4jException.class, () -> PreferenceTrainer.builder()
                    .config(base().labelSmoothing(0.1).build()).policy(policy).loss(new Ipo())
                    .trainPairs(SyntheticTask.pairs(16, 1)).console(null).build()).getMessage();
            assertTrue(both.contains("label_smoothing=0.1") && both.contains("Builder.loss"), both);
            String longer = assertThrows(Align4jException.class, () -> PreferenceTrainer.builder()
                    .config(base().maxLength(6).maxPromptLength(2).build()).policy(policy)
                    .trainPairs(SyntheticTask.pairs(16, 1)).console(null).build()).getMessage();
            assertTrue(longer.contains("over max_length 6") && longer.contains("withMaxLength"), longer);
            assertThrows(Align4jException.class, () -> PreferenceTrainer.builder().config(base().device("gpu").build())
                    .policy(policy).trainPairs(SyntheticTask.pairs(16, 1)).console(null).build());
            PreferenceTrainer.builder().config(base().device("cpu").maxLength(0).build()).policy(policy)
                    .trainPairs(SyntheticTask.pairs(16, 1)).console(null).build().close();
        }
    }

    @Test
    void trainerStateRecordsTheLossTrained(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(base().maxSteps(1).build()).policy(policy)
                        .loss(new io.github.align4j.loss.KtoPair(false)).trainPairs(SyntheticTask.pairs(16, 1))
                        .output(dir.resolve("out")).console(null).build()) {
            t.train();
        }
        JsonNode st = new ObjectMapper().readTree(Files.readString(dir.resolve("out/final/trainer_state.json")));
        assertEquals("kto_pair", st.path("config").path("loss_type").asText());
        JsonNode loss = st.path("align4j").path("loss");
        assertEquals("kto_pair", loss.path("name").asText());
        assertEquals("io.github.align4j.loss.KtoPair", loss.path("class").asText());
        assertTrue(loss.path("options").has("kl_detach") && !loss.path("options").path("kl_detach").asBoolean(), loss.toString());
    }

    /** TRL's newer losses through the trainer: the first step's loss at policy = reference, worked by hand. */
    @Test
    void trlLossesTrainFromTheConfig(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        double ln2 = Math.log(2);
        assertEquals(2 * ln2, lastLoss(model, base().lossType("bco_pair").maxSteps(1).build()), 1e-5); // −2logσ(0)
        assertEquals(ln2, lastLoss(model, base().lossType("sigmoid_norm").maxSteps(1).build()), 1e-5);
        assertEquals(ln2, lastLoss(model, base().lossType("aot").maxSteps(1).build()), 1e-5);
        // m = σ(0) = ½: ½·ln 2 + ½·exp(0)
        assertEquals(0.5 * ln2 + 0.5, lastLoss(model, base().lossType("discopop").discopopTau(0.2).maxSteps(1).build()), 1e-5);
        // ½(ln ½ − ln(1 − ε)) + ½(ln ½ − ln ε), ε = 0.1
        assertEquals(0.5 * (Math.log(0.5) - Math.log(0.9)) + 0.5 * (Math.log(0.5) - Math.log(0.1)),
                lastLoss(model, base().lossType("exo_pair").labelSmoothing(0.1).maxSteps(1).build()), 1e-5);
        // js_divergence scores logσ(0) for both completions: d = 0, ln 2; two steps move it below
        double first = lastLoss(model, base().fDivergenceType("js_divergence").maxSteps(1).build());
        assertEquals(ln2, first, 1e-5);
        assertTrue(lastLoss(model, base().fDivergenceType("js_divergence").maxSteps(3).build()) < first - 1e-4);
        try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(base().maxSteps(1).build()).policy(policy)
                        .trainUnpaired(SyntheticTask.unpaired(SyntheticTask.pairs(16, 1), 3))
                        .loss(new io.github.align4j.loss.ApoZeroUnpaired()).console(null).build()) {
            // 1 − σ(0) for desirable and σ(0) for undesirable rows: ½
            assertEquals(0.5, ((Number) t.train().lastTrain().get("loss")).doubleValue(), 1e-5);
        }
    }

    @Test
    void anExplicitFDivergenceLossIsRecordedAsTrlKeys(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(base().maxSteps(1).build()).policy(policy)
                        .loss(io.github.align4j.loss.FDivergence.wrap(new Ipo(),
                                io.github.align4j.loss.FDivergence.Type.ALPHA_DIVERGENCE, 0.5))
                        .trainPairs(SyntheticTask.pairs(16, 1)).output(dir.resolve("out")).console(null).build()) {
            t.train();
        }
        JsonNode config = new ObjectMapper().readTree(Files.readString(dir.resolve("out/final/trainer_state.json"))).path("config");
        assertEquals("ipo", config.path("loss_type").asText());
        assertEquals("alpha_divergence", config.path("f_divergence_type").asText());
        assertEquals(0.5, config.path("f_alpha_divergence_coef").asDouble());
    }

    /** reference_free: no reference; with one pair per step the first loss is −logσ(β(πc − πr)) of the logged log-probs. */
    @Test
    void referenceFreeTrainsWithoutAReference(@TempDir Path dir) throws Exception {
        Path model = SyntheticTask.model(dir.resolve("model"), 5);
        try (CausalLM policy = CausalLM.load(model, PreferenceTrainerTest.TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(base().referenceFree(true).batchSize(1).maxSteps(1).build())
                        .policy(policy).trainPairs(SyntheticTask.pairs(4, 1)).console(null).build()) {
            Map<String, Object> m = t.train().lastTrain();
            double d = ((Number) m.get("logps/chosen")).doubleValue() - ((Number) m.get("logps/rejected")).doubleValue();
            assertEquals(Math.log1p(Math.exp(-0.1 * d)), ((Number) m.get("loss")).doubleValue(), 1e-4);
            assertNotEquals(Math.log(2), ((Number) m.get("loss")).doubleValue(), 1e-3);
        }
    }
}
