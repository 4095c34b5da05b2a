package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainConfigTest {
    @Test
    void zephyrRecipeParses() {
        List<String> ignored = new ArrayList<>();
        TrainConfig c = TrainConfig.fromYaml(Path.of("recipes/zephyr-7b-beta/dpo.yaml"), TrainConfig.defaults(), ignored)
                .validated();
        assertEquals(0.01, c.lossSpec().beta());
        assertEquals(5e-7, c.optimization().learningRate());
        assertEquals("cosine", c.optimization().scheduler().key());
        assertEquals(0.1, c.optimization().warmupRatio());
        assertEquals(1.0, c.optimization().numTrainEpochs());
        assertEquals(8, c.optimization().batchSize());
        assertEquals(2, c.optimization().gradientAccumulationSteps());
        assertEquals(1024, c.data().maxLength());
        assertEquals(512, c.data().maxPromptLength());
        assertTrue(ignored.stream().anyMatch(s -> s.startsWith("bf16")), ignored.toString());
    }

    @Test
    void unknownKeyNamesItselfAndTheNearest(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("r.yaml");
        Files.writeString(f, "beta: 0.1\nlearning_rat: 1e-6\n");
        Align4jException e = assertThrows(Align4jException.class, () -> TrainConfig.fromYaml(f, TrainConfig.defaults(), null));
        assertTrue(e.getMessage().contains("r.yaml") && e.getMessage().contains("'learning_rat'")
                && e.getMessage().contains("did you mean 'learning_rate'"), e.getMessage());
    }

    @Test
    void valuesAreValidated() {
        TrainConfig d = TrainConfig.defaults();
        assertTrue(assertThrows(Align4jException.class, () -> d.with("beta", 0, "--beta")).getMessage().contains("> 0"));
        assertTrue(assertThrows(Align4jException.class, () -> d.with("learning_rate", -1, "--lr")).getMessage().contains("≥ 0"));
        assertTrue(assertThrows(Align4jException.class, () -> d.with("per_device_train_batch_size", 0, "--batch-size"))
                .getMessage().contains("≥ 1"));
        assertTrue(assertThrows(Align4jException.class, () -> d.with("seed", "x", "--seed")).getMessage().contains("integer"));
        assertTrue(assertThrows(Align4jException.class, () -> d.with("shuffle", "yes", "--shuffle")).getMessage().contains("true or false"));
        assertTrue(assertThrows(Align4jException.class,
                () -> d.with(Map.of("max_length", 100, "max_prompt_length", 200), "flags").validated()).getMessage()
                .contains("max_prompt_length"));
    }

    @Test
    void integersOutOfRangeSaySoAndFractionsAreNoIntegers(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("big.yaml");
        Files.writeString(f, "beta: 0.1\nmax_steps: 4611686018427387904\n"); // 2^62
        String m = assertThrows(Align4jException.class, () -> TrainConfig.fromYaml(f, TrainConfig.defaults(), null)).getMessage();
        assertTrue(m.contains("big.yaml:2") && m.contains("max_steps") && m.contains("4611686018427387904")
                && m.contains("out of range [-2147483648, 2147483647]"), m);
        Files.writeString(f, "max_steps: 123456789012345678901234567890\n"); // beyond a long
        m = assertThrows(Align4jException.class, () -> TrainConfig.fromYaml(f, TrainConfig.defaults(), null)).getMessage();
        assertTrue(m.contains("out of range [-2147483648, 2147483647]"), m);
        Files.writeString(f, "max_steps: 4.9\n");
        m = assertThrows(Align4jException.class, () -> TrainConfig.fromYaml(f, TrainConfig.defaults(), null)).getMessage();
        assertTrue(m.contains("max_steps") && m.contains("must be an integer") && m.contains("4.9"), m);
        TrainConfig d = TrainConfig.defaults();
        m = assertThrows(Align4jException.class, () -> d.with("seed", "99999999999", "--seed")).getMessage();
        assertTrue(m.contains("key 'seed' is 99999999999, out of range"), m);
        m = assertThrows(Align4jException.class, () -> d.with("seed", 1e12, "--seed")).getMessage();
        assertTrue(m.contains("out of range"), m);
        assertEquals(2147483647, d.with("seed", "2147483647", "--seed").optimization().seed());
        assertEquals(-2147483648, d.with("seed", -2147483648L, "--seed").optimization().seed());
        assertEquals(40, d.with("max_steps", 40.0, "--max-steps").optimization().maxSteps());
    }

    @Test
    void aBrokenRecipeIsDescribedWithoutQuotingIt(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("token.yaml");
        Files.writeString(f, "beta: 0.1\nhf_FAKEtokenSecret: [unclosed\n");
        String m = assertThrows(Align4jException.class, () -> TrainConfig.fromYaml(f, TrainConfig.defaults(), null)).getMessage();
        assertTrue(m.contains("token.yaml:2") && m.contains("not a valid YAML recipe") && m.contains("column"), m);
        assertTrue(!m.contains("hf_FAKE") && !m.contains("unclosed"), m);
    }

    @Test
    void schedulesFollowTransformers() {
        Schedule cos = new Schedule(1.0, Scheduler.COSINE, 10, 110);
        assertEquals(0.0, cos.at(0), 1e-12);
        assertEquals(0.5, cos.at(5), 1e-12);
        assertEquals(1.0, cos.at(10), 1e-12);
        assertEquals(0.5, cos.at(60), 1e-12);
        assertEquals(0.0, cos.at(110), 1e-12);
        Schedule lin = new Schedule(2.0, Scheduler.LINEAR, 0, 100);
        assertEquals(1.0, lin.at(50), 1e-12);
        assertEquals(2.0, new Schedule(2.0, Scheduler.CONSTANT, 4, 100).at(50), 1e-12);
        assertEquals(0.2, Schedule.of(TrainConfig.defaults().with(Map.of("learning_rate", 1.0, "warmup_ratio", 0.1), "t"), 100).at(2), 1e-12);
    }

    @Test
    void discopopTauIsATopLevelKeyAsInTrl() {
        TrainConfig c = TrainConfig.defaults().with(Map.of("loss_type", "discopop", "discopop_tau", 0.2), "recipe.yaml").validated();
        assertEquals(0.2, ((io.github.align4j.loss.DiscoPop) c.loss()).tau(), 0);
        assertEquals(0.05, ((io.github.align4j.loss.DiscoPop) TrainConfig.defaults().with("loss_type", "discopop", "--loss").loss()).tau(), 0);
        assertTrue(assertThrows(Align4jException.class, () -> TrainConfig.defaults().with("discopop_tau", 0, "recipe.yaml"))
                .getMessage().contains("> 0"));
        // a loss that does not read it refuses it by name
        assertTrue(assertThrows(Align4jException.class,
                () -> TrainConfig.defaults().with(Map.of("loss_type", "dpo", "discopop_tau", 0.2), "recipe.yaml").loss())
                .getMessage().contains("discopop_tau"));
    }

    @Test
    void fDivergenceWrapsTheConfigsLoss() {
        TrainConfig c = TrainConfig.defaults().with(Map.of("f_divergence_type", "js_divergence"), "recipe.yaml").validated();
        io.github.align4j.loss.PreferenceLoss l = c.loss();
        assertTrue(l instanceof io.github.align4j.loss.FDivergence f
                && f.type() == io.github.align4j.loss.FDivergence.Type.JS_DIVERGENCE && l.name().equals("dpo"));
        assertTrue(c.setsLoss());
        assertTrue(assertThrows(Align4jException.class, () -> TrainConfig.defaults().with("f_divergence_type", "kl", "recipe.yaml"))
                .getMessage().contains("reverse_kl"));
        assertTrue(assertThrows(Align4jException.class,
                () -> TrainConfig.defaults().with(Map.of("loss_type", "apo_zero", "f_divergence_type", "forward_kl"), "r").loss())
                .getMessage().contains("does not apply"));
    }

    @Test
    void anErrorAboutADefaultSaysItWasTheDefault() {
        String m = assertThrows(Align4jException.class, () -> TrainConfig.builder().maxPromptLength(2000).build()).getMessage();
        assertTrue(m.contains("max_prompt_length 2000 (from TrainConfig.Builder (max_prompt_length))")
                && m.contains("max_length 1024 (the default)"), m);
        TrainConfig c = TrainConfig.defaults().with("beta", 0.2, "r.yaml");
        assertTrue(c.isSet("beta") && !c.isSet("learning_rate"));
        assertEquals("beta 0.2 (from r.yaml)", c.describe("beta"));
    }
}
