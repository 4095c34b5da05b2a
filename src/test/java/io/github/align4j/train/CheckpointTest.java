package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Dpo;
import io.github.align4j.loss.LossOutput;
import io.github.align4j.loss.PairedLogps;
import io.github.align4j.loss.PairedLoss;
import io.github.align4j.model.CausalLM;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoints on disk: the manifest and its checksums, damaged and torn checkpoints skipped in
 * favour of older ones, save_total_limit, a full disk, an unwritable folder, and the non-finite
 * step policy.
 */
class CheckpointTest {
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

    @AfterEach
    void noFault() {
        Checkpoints.fault = null;
    }

    static TrainConfig config(int steps, Map<String, Object> extra) {
        return ResumeTest.config(steps, Map.of("save_steps", 1, "logging_steps", 1)).with(extra, "test");
    }

    static ResumeTest.Run train(Path out, TrainConfig cfg, boolean resume) {
        return ResumeTest.train(model, out, cfg, resume, data, null, -1);
    }

    static void flipByte(Path f, long at) throws Exception {
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw")) {
            r.seek(at);
            int b = r.read();
            r.seek(at);
            r.write(b ^ 0x01);
        }
    }

    @Test
    void manifestChecksumsAndDamagedCheckpointsSkipped(@TempDir Path dir) throws Exception {
        Path whole = dir.resolve("whole");
        ResumeTest.Run ref = train(whole, config(4, Map.of()), false);
        for (String c : List.of("checkpoint-1", "checkpoint-2", "checkpoint-3", "final")) {
            assertNull(RestoreChecks.verify(whole.resolve(c), true), c);
        }
        JsonNode mf = new ObjectMapper().readTree(whole.resolve("checkpoint-2/manifest.json").toFile());
        assertEquals("align4j-checkpoint", mf.get("format").asText());
        assertEquals(2, mf.get("global_step").asInt());
        List<String> listed = new ArrayList<>();
        for (JsonNode f : mf.get("files")) {
            listed.add(f.get("path").asText());
            Path file = whole.resolve("checkpoint-2").resolve(f.get("path").asText());
            assertEquals(Files.size(file), f.get("bytes").asLong());
            assertEquals(Checkpoints.sha256(file, false), f.get("sha256").asText());
        }
        assertTrue(listed.containsAll(List.of("config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json")),
                listed.toString());
        JsonNode st = new ObjectMapper().readTree(whole.resolve("checkpoint-2/trainer_state.json").toFile());
        assertEquals(2, st.get("global_step").asInt());
        assertEquals(2, st.get("optimizer_step").asInt());
        assertEquals(2, st.get("log_history").size());
        JsonNode a = st.get("align4j");
        // 12 pairs in batches of 4 are 3 micro-batches an epoch: step 1 takes 2, step 2 the epoch's last one
        assertEquals(3, a.get("micro_batches_done").asInt());
        assertEquals(1, a.get("epoch").asInt() + (a.get("next_batch").asInt() == 3 ? 1 : 0), "epoch 1 is done");
        assertEquals(RunState.VERSION, a.get("version").asInt());
        assertEquals(12, a.get("examples").asInt());
        assertEquals(3, a.get("rng").get("seed").asInt());

        // damage the three newest: a flipped byte, a truncated file, a lost manifest
        Path out = dir.resolve("damaged");
        train(out, config(4, Map.of()), false);
        Path m3 = out.resolve("checkpoint-3/model.safetensors");
        flipByte(m3, Files.size(m3) - 3);
        assertNull(RestoreChecks.verify(out.resolve("checkpoint-3"), false), "same size");
        assertTrue(RestoreChecks.verify(out.resolve("checkpoint-3"), true).contains("model.safetensors does not match its SHA-256"));
        Path o2 = out.resolve("checkpoint-2/optimizer.safetensors");
        try (RandomAccessFile r = new RandomAccessFile(o2.toFile(), "rw")) {
            r.setLength(Files.size(o2) - 100);
        }
        Files.delete(out.resolve("final/manifest.json"));
        List<String> warnings = new ArrayList<>();
        Checkpoints.Found f = Checkpoints.latest(out, warnings::add);
        assertEquals(out.resolve("checkpoint-1"), f.dir());
        assertEquals(3, warnings.size(), warnings.toString());
        String all = String.join("\n", warnings);
        assertTrue(all.contains("checkpoint-3 is damaged (model.safetensors does not match its SHA-256"), all);
        assertTrue(all.contains("checkpoint-2 is damaged (optimizer.safetensors has"), all);
        assertTrue(all.contains("final is damaged (no manifest.json"), all);

        // a final/ without a manifest cannot be shown to be align4j's: the resume refuses to replace it
        Align4jException notOurs = assertThrows(Align4jException.class, () -> train(out, config(4, Map.of()), true));
        assertTrue(notOurs.getMessage().contains("final/ (no align4j manifest.json)"), notOurs.getMessage());
        assertTrue(Files.exists(out.resolve("final/model.safetensors")), "left as it was");
        Files.move(out.resolve("final"), dir.resolve("final-moved-away"));

        // resuming goes back to checkpoint-1 and still ends with the uninterrupted run's weights
        ResumeTest.Run resumed = train(out, config(4, Map.of()), true);
        assertTrue(resumed.console().contains("checkpoint-3 is damaged"), resumed.console());
        assertTrue(resumed.console().contains("continuing from " + out.resolve("checkpoint-1") + " at step 1"), resumed.console());
        ResumeTest.assertSameWeights(ref.weights(), resumed.weights());
        for (String c : List.of("checkpoint-2", "checkpoint-3", "final")) {
            assertNull(RestoreChecks.verify(out.resolve(c), true), c + " rewritten whole");
        }
    }

    @Test
    void temporariesOfAKilledRunAreTidied(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        ResumeTest.train(model, out, config(3, Map.of()), false, data, null, 2); // stops after checkpoint-2
        // as a kill would leave them: a torn temporary, and checkpoint-2 moved aside mid-replace
        OutputFolder.createScratch(out.resolve(".checkpoint-3.tmp")); // its marker first, as Checkpoints.save does
        Files.writeString(out.resolve(".checkpoint-3.tmp/model.safetensors"), "torn");
        Files.move(out.resolve("checkpoint-2"), out.resolve(".checkpoint-2.old"));
        Files.writeString(out.resolve(".something-else.tmp"), "not ours");
        ResumeTest.Run r = train(out, config(3, Map.of()), true);
        assertTrue(r.console().contains("continuing from " + out.resolve("checkpoint-2")), r.console());
        assertFalse(Files.exists(out.resolve(".checkpoint-3.tmp")));
        assertFalse(Files.exists(out.resolve(".checkpoint-2.old")));
        assertTrue(Files.exists(out.resolve(".something-else.tmp")), "only align4j's own scratch names are touched");
        assertEquals(3, r.result().steps());
    }

    @Test
    void saveTotalLimitKeepsTheNewestCompleteOnes(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        train(out, config(6, Map.of("save_total_limit", 2)), false);
        assertEquals(List.of("checkpoint-4", "checkpoint-5", "final"), names(out));

        // a damaged newest checkpoint is neither counted nor deleted: the older complete one stays
        Path o5 = out.resolve("checkpoint-5/optimizer.safetensors");
        Files.write(o5, new byte[10]);
        assertTrue(Checkpoints.prune(out, 1).isEmpty());
        assertEquals(List.of("checkpoint-4", "checkpoint-5", "final"), names(out));
        Files.delete(o5);
        Files.copy(out.resolve("final/optimizer.safetensors"), o5); // the same size again: complete as far as sizes go
        assertEquals(List.of(out.resolve("checkpoint-4")), Checkpoints.prune(out, 1));
        assertEquals(List.of("checkpoint-5", "final"), names(out));
    }

    static List<String> names(Path out) throws Exception {
        try (Stream<Path> s = Files.list(out)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".") && !n.endsWith(".jsonl")).sorted().toList();
        }
    }

    /** A run killed after a checkpoint was moved into place but before the older ones were pruned. */
    @Test
    void aResumedRunPrunesWhatAKilledRunLeftEvenWhenItOnlyWritesFinal(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        // the state such a kill leaves: one complete checkpoint more than save_total_limit
        ResumeTest.train(model, out, config(4, Map.of("save_total_limit", 0)), false, data, null, 3);
        assertEquals(List.of("checkpoint-1", "checkpoint-2", "checkpoint-3"), names(out));
        ResumeTest.Run r = train(out, config(4, Map.of("save_total_limit", 2)), true);
        assertTrue(r.console().contains("continuing from " + out.resolve("checkpoint-3")), r.console());
        assertEquals(List.of("checkpoint-2", "checkpoint-3", "final"), names(out), "the last step writes final, and prunes too");
    }

    @Test
    void fullDiskFailsClearlyAndKeepsTheLastCheckpoint(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        Checkpoints.fault = f -> {
            if (f.toString().contains(".checkpoint-2.tmp") && f.getFileName().toString().equals("optimizer.safetensors")) {
                throw new FileSystemException(f.toString(), null, "No space left on device");
            }
        };
        Align4jException e = assertThrows(Align4jException.class, () -> train(out, config(4, Map.of()), false));
        String m = e.getMessage();
        assertTrue(m.contains("checkpoint-2: cannot write the checkpoint: No space left on device"), m);
        assertTrue(m.contains("the last complete checkpoint, " + out.resolve("checkpoint-1") + ", is intact"), m);
        assertTrue(m.contains("--resume"), m);
        assertFalse(Files.exists(out.resolve(".checkpoint-2.tmp")), "the temporary folder is removed");
        assertFalse(Files.exists(out.resolve("checkpoint-2")));
        assertNull(RestoreChecks.verify(out.resolve("checkpoint-1"), true));

        Checkpoints.fault = f -> {
            if (f.getFileName().toString().equals("manifest.json")) {
                throw new FileSystemException(f.toString(), null, "No space left on device");
            }
        };
        assertThrows(Align4jException.class, () -> train(out, config(4, Map.of()), true));
        assertNull(RestoreChecks.verify(out.resolve("checkpoint-1"), true), "still intact");
        Checkpoints.fault = null;

        ResumeTest.Run r = train(out, config(4, Map.of()), true);
        ResumeTest.Run ref = train(dir.resolve("whole"), config(4, Map.of()), false);
        ResumeTest.assertSameWeights(ref.weights(), r.weights());
    }

    @Test
    void unwritableOutputFailsBeforeTraining(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("a-file");
        Files.writeString(file, "x");
        Path out = file.resolve("run");
        Align4jException e = assertThrows(Align4jException.class, () -> train(out, config(2, Map.of()), false));
        assertTrue(e.getMessage().startsWith(out + ": cannot create or write the output folder"), e.getMessage());
        assertEquals("x", Files.readString(file));
    }

    /** DPO whose loss is NaN at chosen training calls (one call per step here). */
    static final class NanAt implements PairedLoss {
        final Set<Integer> calls;
        int n;

        NanAt(Set<Integer> calls) {
            this.calls = calls;
        }

        @Override
        public LossOutput compute(PairedLogps in, double beta) {
            LossOutput o = new Dpo().compute(in, beta);
            n++;
            return calls.contains(n) ? LossOutput.of(o.losses().mul(Float.NaN)) : o;
        }
    }

    @Test
    void nonFiniteStepsAreSkippedThenTheRunStopsWithTheLastGoodWeights(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        TrainConfig cfg = config(10, Map.of("gradient_accumulation_steps", 1, "save_steps", 0));
        Map<Long, float[]> after = new HashMap<>();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        Align4jException e;
        try (CausalLM policy = CausalLM.load(model, ResumeTest.TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy).loss(new NanAt(Set.of(2, 4, 5, 6)))
                        .trainPairs(data).output(out).console(new PrintStream(buf, true, StandardCharsets.UTF_8))
                        .onStep((step, s, tok) -> after.put(step,
                                policy.parameters().get("model.layers.0.mlp.up_proj.weight").toFloatArray()))
                        .build()) {
            e = assertThrows(Align4jException.class, t::train);
        }
        String console = buf.toString(StandardCharsets.UTF_8);
        assertTrue(e.getMessage().startsWith("3 steps in a row (max_nonfinite_steps) had a non-finite loss or gradient, so "
                + "training stopped at step 6. The last good weights are in " + out.resolve("checkpoint-6")), e.getMessage());
        assertArrayEquals(after.get(1L), after.get(2L), 0f, "step 2 skipped");
        assertFalse(java.util.Arrays.equals(after.get(2L), after.get(3L)), "step 3 trained");
        assertArrayEquals(after.get(3L), after.get(5L), 0f, "steps 4, 5 skipped");
        assertArrayEquals(after.get(3L), Checkpoints.readFloats(out.resolve("checkpoint-6")).get("model.layers.0.mlp.up_proj.weight"), 0f);
        assertEquals(5, after.size(), "the stopping step reports no completed step");
        assertTrue(console.contains("warning: step 2: non-finite loss or gradient; update skipped (data rows ["), console);
        assertTrue(console.contains("1 in a row"), console);
        assertTrue(console.contains("warning: step 6:") && console.contains("3 in a row"), console);
        List<JsonNode> skipped = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode n = new ObjectMapper().readTree(l);
            if (n.has("skipped")) {
                skipped.add(n);
            }
        }
        assertEquals(List.of(2, 4, 5, 6), skipped.stream().map(n -> n.get("step").asInt()).toList());
        assertEquals(4, skipped.get(0).get("rows").size(), "the batch's rows");
        assertNotNull(Checkpoints.latest(out, null));
    }
}
