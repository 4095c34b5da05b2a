package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java API (PreferenceTrainer.Builder with overwrite true, false or unset, and resume) keeps
 * the same output-folder rules as the command line: what align4j did not write is refused, never
 * replaced or deleted, and links are never followed.
 */
class OutputFolderTrainerTest {
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

    static PreferenceTrainer.TrainResult train(Path out, int steps, Boolean overwrite, boolean resume,
            PreferenceTrainer.StepListener onStep) {
        try (CausalLM policy = CausalLM.load(model, ResumeTest.TRAIN)) {
            PreferenceTrainer.Builder b = PreferenceTrainer.builder().config(ResumeTest.config(steps, Map.of("logging_steps", 1)))
                    .policy(policy).loss(Losses.create("dpo", Map.of())).trainPairs(data).output(out).resume(resume)
                    .console(null);
            if (overwrite != null) {
                b.overwrite(overwrite);
            }
            if (onStep != null) {
                b.onStep(onStep);
            }
            try (PreferenceTrainer t = b.build()) {
                return t.train();
            }
        }
    }

    @Test
    void everyBuilderModeRefusesAFinalFolderAlign4jDidNotWrite(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        Files.createDirectories(out.resolve("final"));
        Files.writeString(out.resolve("final/model.safetensors"), "the user's own model");
        Map<String, String> before = OutputFolderTest.snapshot(out);
        for (Boolean overwrite : new Boolean[] {true, null, false}) {
            Align4jException e = assertThrows(Align4jException.class, () -> train(out, 1, overwrite, false, null));
            assertTrue(e.getMessage().contains("final/ (no align4j manifest.json)"), overwrite + ": " + e.getMessage());
        }
        Align4jException e = assertThrows(Align4jException.class, () -> train(out, 1, null, true, null));
        assertTrue(e.getMessage().contains("final/ (no align4j manifest.json)"), e.getMessage());
        OutputFolderTest.assertUntouched(before, out);
    }

    @Test
    void aFinalFolderThatAppearsDuringTheRunIsNotReplaced(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        Align4jException e = assertThrows(Align4jException.class, () -> train(out, 2, false, false, (step, s, tok) -> {
            if (step == 1) {
                try {
                    Files.createDirectories(out.resolve("final"));
                    Files.writeString(out.resolve("final/notes.txt"), "mine");
                } catch (java.io.IOException x) {
                    throw new java.io.UncheckedIOException(x);
                }
            }
        }));
        assertTrue(e.getMessage().contains("final was not written by align4j"), e.getMessage());
        assertEquals("mine", Files.readString(out.resolve("final/notes.txt")));
        assertEquals(List.of("notes.txt"), Files.list(out.resolve("final")).map(p -> p.getFileName().toString()).toList());
    }

    @Test
    void resumeNeverFollowsALinkedMetricsFile(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        ResumeTest.train(model, out, ResumeTest.config(3, Map.of("save_steps", 1, "logging_steps", 1)), false, data, null, 2);
        Path outside = dir.resolve("outside.txt");
        Files.writeString(outside, "not align4j's");
        Files.delete(out.resolve("metrics.jsonl"));
        Files.createSymbolicLink(out.resolve("metrics.jsonl"), outside);
        Align4jException e = assertThrows(Align4jException.class, () -> train(out, 3, null, true, null));
        assertTrue(e.getMessage().contains("metrics.jsonl (a symbolic link)"), e.getMessage());
        assertEquals("not align4j's", Files.readString(outside));
        assertTrue(Files.isSymbolicLink(out.resolve("metrics.jsonl")), "the link is left as it was");

        // without the link, the same resume finishes
        Files.delete(out.resolve("metrics.jsonl"));
        assertEquals(3, train(out, 3, null, true, null).steps());
        assertEquals("not align4j's", Files.readString(outside));
    }
}
