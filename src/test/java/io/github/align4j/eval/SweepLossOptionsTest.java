package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.loss.Dpo;
import io.github.align4j.loss.KtoPair;
import io.github.align4j.train.TrainConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A sweep skips an option only for a loss that does not read it; a value a loss rejects is an error. */
class SweepLossOptionsTest {
    private static Path file(Path dir, String body) throws Exception {
        Path f = dir.resolve("sweep.yaml");
        Files.writeString(f, "model_name_or_path: m\ntrain_file: t.jsonl\noutput_dir: " + dir.resolve("out") + "\n" + body);
        return f;
    }

    @Test
    void aRejectedValueIsAnErrorNotEpsilonZero(@TempDir Path dir) throws Exception {
        Path f = file(dir, "label_smoothing: 0.7\ngrid:\n  loss_type: [dpo, ipo]\n  beta: [0.1]\n");
        String msg = assertThrows(Align4jException.class, () -> SweepConfig.load(f)).getMessage();
        assertTrue(msg.contains("label_smoothing=0.7") && msg.contains("dpo"), msg);
        TrainConfig c = TrainConfig.builder().lossType("dpo").labelSmoothing(0.7).build();
        assertThrows(Align4jException.class, () -> SweepGrid.loss(c));
    }

    @Test
    void optionsGoOnlyToTheLossesThatReadThem(@TempDir Path dir) throws Exception {
        SweepConfig sc = SweepConfig.load(file(dir, "label_smoothing: 0.2\nloss_kwargs: {kl_detach: true}\n"
                + "grid:\n  loss_type: [dpo, ipo, kto_pair]\n  beta: [0.1]\n"));
        for (Sweep.Cell cell : sc.cells()) {
            TrainConfig c = SweepGrid.forItsLoss(sc.base().with(cell.values(), "test"));
            switch (cell.algorithm()) {
                case "dpo" -> {
                    assertEquals(0.2, ((Dpo) SweepGrid.loss(c)).labelSmoothing());
                    assertEquals(Map.of(), c.lossSpec().kwargs());
                }
                case "ipo" -> assertEquals(Map.of(), c.allLossOptions());
                default -> {
                    assertTrue(((KtoPair) SweepGrid.loss(c)).klDetach());
                    assertEquals(0.0, c.lossSpec().labelSmoothing());
                }
            }
        }
        SweepConfig blog = sc.withLossOptions(Map.of("kl_detach", "false"));
        assertFalse(((KtoPair) SweepGrid.loss(blog.base().with("loss_type", "kto_pair", "test"))).klDetach());
        String none = assertThrows(Align4jException.class, () -> SweepConfig.load(file(dir,
                "simpo_gamma: 1.0\ngrid:\n  loss_type: [dpo, ipo]\n"))).getMessage();
        assertTrue(none.contains("simpo_gamma") && none.contains("read by no loss"), none);
    }

    @Test
    void lossWeightsParseAlikeInTrainAndSweep() {
        TrainConfig c = TrainConfig.builder().lossWeights("dpo=1, sft=0.5").build();
        assertEquals(c.loss().name(), SweepGrid.loss(c).name());
        assertEquals("dpo+0.5*sft", SweepGrid.loss(c).name());
        // a malformed list is refused where it is set, naming the key, from Java as from a recipe
        String a = assertThrows(Align4jException.class, () -> TrainConfig.builder().lossWeights("dpo,sft=0.5")).getMessage();
        assertTrue(a.contains("loss_weights") && a.contains("expected NAME=WEIGHT"), a);
    }
}
