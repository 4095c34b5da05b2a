package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resume through the Java API: a run stopped (twice) and resumed ends with the same weights, bit for
 * bit, and the same metrics as an uninterrupted one; and what a resume refuses.
 */
@SuppressWarnings("unchecked")
class ResumeTest {
    static {
        Offline.ensure();
    }

    static final CausalLM.Options TRAIN = new CausalLM.Options(Device.cpu(), true, ai.djl.ndarray.types.DataType.FLOAT32);
    static final List<String> TIMING = List.of("tokens_per_second", "elapsed_s");

    @TempDir
    static Path shared;
    static Path model;
    static List<TokenizedPair> data;

    @BeforeAll
    static void setUp() throws Exception {
        model = SyntheticTask.model(shared.resolve("model"), 5);
        data = SyntheticTask.pairs(18, 1); // batch 4: 5 micro-batches an epoch, the last one smaller
    }

    /** Epochs roll over mid-step, warmup + cosine, decay, clipping and a logging window of 4 steps. */
    static TrainConfig config(int steps, Map<String, Object> extra) {
        Map<String, Object> m = new LinkedHashMap<>(Map.of("beta", 0.1, "learning_rate", 5e-3, "lr_scheduler_type", "cosine",
                "warmup_steps", 2, "per_device_train_batch_size", 4, "gradient_accumulation_steps", 2, "max_steps", steps,
                "logging_steps", 4, "max_grad_norm", 0.5, "weight_decay", 0.01));
        m.put("seed", 3);
        m.putAll(extra);
        return TrainConfig.defaults().with(m, "test");
    }

    record Run(PreferenceTrainer.TrainResult result, Map<String, float[]> weights, String console) {}

    static Run train(Path out, TrainConfig cfg, boolean resume, List<TokenizedPair> pairs, Consumer<PreferenceTrainer> hook,
            long stopAt) {
        return train(model, out, cfg, resume, pairs, hook, stopAt);
    }

    static Run train(Path model, Path out, TrainConfig cfg, boolean resume, List<TokenizedPair> pairs,
            Consumer<PreferenceTrainer> hook, long stopAt) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (CausalLM policy = CausalLM.load(model, TRAIN)) {
            PreferenceTrainer[] self = new PreferenceTrainer[1];
            PreferenceTrainer.Builder b = PreferenceTrainer.builder().config(cfg).policy(policy)
                    .loss(Losses.create("dpo", Map.of())).trainPairs(pairs).evalPairs(SyntheticTask.pairs(4, 9))
                    .output(out).resume(resume).console(new PrintStream(buf, true, StandardCharsets.UTF_8))
                    .onStep((step, s, tok) -> {
                        if (step == stopAt) {
                            self[0].requestStop("test");
                        }
                    });
            if (!resume) {
                b.overwrite(false); // as the command line does: never replace an earlier run unasked
            }
            try (PreferenceTrainer t = b.build()) {
                self[0] = t;
                if (hook != null) {
                    hook.accept(t);
                }
                PreferenceTrainer.TrainResult r = t.train();
                Map<String, float[]> w = new LinkedHashMap<>();
                for (Map.Entry<String, NDArray> e : policy.parameters().entrySet()) {
                    w.put(e.getKey(), e.getValue().toFloatArray());
                }
                return new Run(r, w, buf.toString(StandardCharsets.UTF_8));
            }
        }
    }

    static List<JsonNode> metricsWithoutTiming(Path out) throws Exception {
        List<JsonNode> m = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            ObjectNode n = (ObjectNode) new ObjectMapper().readTree(l);
            TIMING.forEach(n::remove);
            m.add(n);
        }
        return m;
    }

    static void assertSameWeights(Map<String, float[]> a, Map<String, float[]> b) {
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            float[] x = a.get(k);
            float[] y = b.get(k);
            assertEquals(x.length, y.length, k);
            for (int i = 0; i < x.length; i++) {
                if (Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i])) {
                    throw new AssertionError(k + "[" + i + "]: " + x[i] + " vs " + y[i] + " (not bit-identical)");
                }
            }
        }
    }

    @Test
    void stoppedTwiceAndResumedEqualsUninterrupted(@TempDir Path dir) throws Exception {
        Path whole = dir.resolve("whole");
        Run ref = train(whole, config(11, Map.of()), false, data, null, -1);
        assertFalse(ref.result().stopped());

        Path out = dir.resolve("parts");
        Run first = train(out, config(11, Map.of()), false, data, null, 3);
        assertTrue(first.result().stopped());
        assertEquals(3, first.result().steps());
        assertEquals(out.resolve("checkpoint-3"), first.result().finalCheckpoint());
        assertTrue(first.console().contains("stopped by test after step 3 of 11"), first.console());
        assertFalse(Files.exists(out.resolve("final")));

        Run second = train(out, config(11, Map.of()), true, data, null, 6); // a window of 4 open at both stops
        assertTrue(second.result().stopped());
        assertTrue(second.console().contains("continuing from " + out.resolve("checkpoint-3") + " at step 3 of 11"),
                second.console());
        Run last = train(out, config(11, Map.of()), true, data, null, -1);
        assertFalse(last.result().stopped());
        assertEquals(11, last.result().steps());

        assertSameWeights(ref.weights(), last.weights());
        assertEquals(metricsWithoutTiming(whole), metricsWithoutTiming(out), "metrics.jsonl, timing aside");
        assertEquals(ref.result().history().size(), last.result().history().size());
        assertEquals(ref.result().lastTrain().get("loss"), last.result().lastTrain().get("loss"));
        assertEquals(ref.result().epochs(), last.result().epochs(), 0.0);
        // the final checkpoint's optimizer state is the same too
        assertEquals(Checkpoints.readFloats(whole.resolve("final/optimizer.safetensors")).keySet(),
                Checkpoints.readFloats(out.resolve("final/optimizer.safetensors")).keySet());
        Checkpoints.readFloats(whole.resolve("final/optimizer.safetensors")).forEach((k, v) ->
                assertArrayEquals(v, Checkpoints.readFloats(out.resolve("final/optimizer.safetensors")).get(k), 0f, k));
        try (var ch = java.nio.channels.FileChannel.open(out.resolve(".align4j.lock"), java.nio.file.StandardOpenOption.WRITE);
                var held = ch.tryLock()) {
            assertNotNull(held, "the lock is released (the file stays: it records what align4j wrote)");
        }

        // resuming a finished run trains nothing and leaves final as it was
        byte[] before = Files.readAllBytes(out.resolve("final/model.safetensors"));
        Run again = train(out, config(11, Map.of()), true, data, null, -1);
        assertTrue(again.console().contains("nothing to train"), again.console());
        assertEquals(11, again.result().steps());
        assertArrayEquals(before, Files.readAllBytes(out.resolve("final/model.safetensors")));
    }

    /** KTO: unpaired data, mismatched KL pairs from each micro-batch; stopped at step 3 and resumed. */
    @Test
    void ktoResumesBitIdentical(@TempDir Path dir) throws Exception {
        List<io.github.align4j.data.TokenizedUnpaired> unpaired = SyntheticTask.unpaired(data, 4);
        Map<String, float[]>[] w = new Map[2];
        for (int run = 0; run < 2; run++) {
            Path out = dir.resolve("run" + run);
            for (boolean resume : run == 0 ? new boolean[] {false} : new boolean[] {false, true}) {
                try (CausalLM policy = CausalLM.load(model, TRAIN)) {
                    PreferenceTrainer[] self = new PreferenceTrainer[1];
                    boolean stop = run == 1 && !resume;
                    try (PreferenceTrainer t = PreferenceTrainer.builder().config(config(6, Map.of("loss_type", "kto")))
                            .policy(policy).loss(Losses.create("kto", Map.of())).trainUnpaired(unpaired).output(out)
                            .resume(resume).console(null).onStep((step, s, tok) -> {
                                if (stop && step == 3) {
                                    self[0].requestStop("test");
                                }
                            }).build()) {
                        self[0] = t;
                        PreferenceTrainer.TrainResult r = t.train();
                        assertEquals(stop, r.stopped());
                        assertEquals(stop ? 3 : 6, r.steps());
                    }
                    w[run] = new LinkedHashMap<>();
                    for (Map.Entry<String, NDArray> e : policy.parameters().entrySet()) {
                        w[run].put(e.getKey(), e.getValue().toFloatArray());
                    }
                }
            }
        }
        assertSameWeights(w[0], w[1]);
        assertEquals(metricsWithoutTiming(dir.resolve("run0")), metricsWithoutTiming(dir.resolve("run1")));
    }

    /** A resume refuses another seed or other data (and a fresh run refuses the folder); a new learning rate is allowed. */
    @Test
    void refusesWhatWouldNotContinueTheSameRun(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        train(out, config(8, Map.of()), false, data, null, 2);

        Align4jException seed = assertThrows(Align4jException.class,
                () -> train(out, config(8, Map.of("seed", 4)), true, data, null, -1));
        assertTrue(seed.getMessage().contains("seed was 3") && seed.getMessage().contains("Resume with seed 3"), seed.getMessage());

        Align4jException other = assertThrows(Align4jException.class,
                () -> train(out, config(8, Map.of()), true, SyntheticTask.pairs(18, 2), null, -1));
        assertTrue(other.getMessage().contains("other data"), other.getMessage());

        Align4jException fresh = assertThrows(Align4jException.class,
                () -> train(out, config(8, Map.of()), false, data, null, -1));
        assertTrue(fresh.getMessage().contains("already holds checkpoints of an earlier run (checkpoint-2)")
                && fresh.getMessage().contains("resume"), fresh.getMessage());

        // a changed learning rate is allowed, with a warning
        Run changed = train(out, config(8, Map.of("learning_rate", 1e-3)), true, data, null, -1);
        assertTrue(changed.console().contains("resuming with changed settings: learning_rate 0.005 → 0.001"), changed.console());
        assertEquals(8, changed.result().steps());
    }

    /**
     * A checkpoint records the thread counts and CPU kernels of its run; a resume under others goes on, with a
     * warning that the result will be close, not identical (reduction order and SIMD rounding differ).
     */
    @Test
    void recordsThreadsAndKernelsAndWarnsWhenAResumeUsesOthers(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        train(out, config(4, Map.of()), false, data, null, 2);
        Path ck = out.resolve("checkpoint-2");
        Path stateFile = ck.resolve(Checkpoints.STATE);
        ObjectNode state = (ObjectNode) new ObjectMapper().readTree(stateFile.toFile());
        ObjectNode a = (ObjectNode) state.get("align4j");
        assertEquals(CpuKernels.current().threads(), a.get("intra_op_threads").asInt(), "ai.djl.pytorch.num_threads (Surefire: 1)");
        assertEquals(CpuKernels.current().interopThreads(), a.get("interop_threads").asInt());
        assertEquals(CpuKernels.current().kernels(), a.get("cpu_kernels").asText());

        // as if the run so far had had other threads and kernels (the manifest's checksum follows the edit)
        String kernels = a.get("cpu_kernels").asText().equals("default") ? "avx2" : "default";
        int threads = CpuKernels.current().threads();
        a.put("intra_op_threads", threads + 2);
        a.put("cpu_kernels", kernels);
        Files.write(stateFile, new ObjectMapper().writeValueAsBytes(state));
        Path mf = ck.resolve("manifest.json");
        ObjectNode m = (ObjectNode) new ObjectMapper().readTree(mf.toFile());
        for (JsonNode e : m.get("files")) {
            if (e.get("path").asText().equals(Checkpoints.STATE)) {
                ((ObjectNode) e).put("bytes", Files.size(stateFile)).put("sha256", Checkpoints.sha256(stateFile, false));
            }
        }
        Files.write(mf, new ObjectMapper().writeValueAsBytes(m));

        Run resumed = train(out, config(4, Map.of()), true, data, null, -1);
        assertTrue(resumed.console().contains("continuing from " + ck), resumed.console());
        assertTrue(resumed.console().contains("warning: resuming with other CPU settings than the run so far (intra-op threads " + (threads + 2) + " → " + threads + ", "
                + "CPU kernels " + kernels + " → " + CpuKernels.current().kernels() + "): the result will be close, not identical"),
                resumed.console());
        assertEquals(4, resumed.result().steps());
        // what it wrote records this process's settings again
        JsonNode now = new ObjectMapper().readTree(out.resolve("final").resolve(Checkpoints.STATE).toFile()).get("align4j");
        assertEquals(threads, now.get("intra_op_threads").asInt());
        assertEquals(CpuKernels.current().kernels(), now.get("cpu_kernels").asText());

        // the same settings: no warning
        Path same = dir.resolve("same");
        train(same, config(4, Map.of()), false, data, null, 2);
        Run plain = train(same, config(4, Map.of()), true, data, null, -1);
        assertFalse(plain.console().contains("other CPU settings"), plain.console());
    }

    @Test
    void resumeWithoutACheckpointStartsOverAndOverwriteReplaces(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        Run r = train(out, config(2, Map.of()), true, data, null, -1);
        assertTrue(r.console().contains("no complete checkpoint"), r.console());
        assertEquals(2, r.result().steps());
        Files.writeString(out.resolve("notes.txt"), "mine");
        try (CausalLM policy = CausalLM.load(model, TRAIN)) {
            Align4jException both = assertThrows(Align4jException.class, () -> PreferenceTrainer.builder().policy(policy)
                    .loss(Losses.create("dpo", Map.of())).trainPairs(data).output(out).resume(true).overwrite(true).build());
            assertTrue(both.getMessage().contains("exclude each other"), both.getMessage());
            try (PreferenceTrainer t = PreferenceTrainer.builder().config(config(1, Map.of())).policy(policy)
                    .loss(Losses.create("dpo", Map.of())).trainPairs(data).output(out).overwrite(true).console(null).build()) {
                t.train();
            }
        }
        assertEquals("mine", Files.readString(out.resolve("notes.txt")), "overwrite leaves other files alone");
        assertEquals(1, Files.readAllLines(out.resolve("metrics.jsonl")).stream().filter(l -> l.contains("\"loss\"")).count());
        JsonNode st = new ObjectMapper().readTree(out.resolve("final/trainer_state.json").toFile());
        assertEquals(1, st.get("global_step").asInt());

        // the Java API's default (neither resume nor overwrite) is the command line's: the earlier run is
        // refused with a message, and nothing in the folder changes
        byte[] before = Files.readAllBytes(out.resolve("final/trainer_state.json"));
        try (CausalLM policy = CausalLM.load(model, TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(config(2, Map.of())).policy(policy)
                        .loss(Losses.create("dpo", Map.of())).trainPairs(data).output(out).console(null).build()) {
            Align4jException e = assertThrows(Align4jException.class, t::train);
            assertTrue(e.getMessage().contains("already holds checkpoints of an earlier run (final)")
                    && e.getMessage().contains("Builder.overwrite(true)"), e.getMessage());
        }
        assertArrayEquals(before, Files.readAllBytes(out.resolve("final/trainer_state.json")));
        assertEquals("mine", Files.readString(out.resolve("notes.txt")));
    }

    /** Two trainers never write one folder at once. */
    @Test
    void oneRunPerOutputFolder(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        Align4jException[] inner = new Align4jException[1];
        try (CausalLM p1 = CausalLM.load(model, TRAIN); CausalLM p2 = CausalLM.load(model, TRAIN)) {
            PreferenceTrainer.Builder second = PreferenceTrainer.builder().config(config(1, Map.of())).policy(p2)
                    .loss(Losses.create("dpo", Map.of())).trainPairs(data).output(out).console(null);
            try (PreferenceTrainer t = PreferenceTrainer.builder().config(config(2, Map.of())).policy(p1)
                    .loss(Losses.create("dpo", Map.of())).trainPairs(data).output(out).console(null)
                    .onStep((step, s, tok) -> {
                        if (step == 1) { // while the first run holds the folder
                            try (PreferenceTrainer t2 = second.build()) {
                                t2.train();
                            } catch (Align4jException e) {
                                inner[0] = e;
                            }
                        }
                    }).build()) {
                assertEquals(2, t.train().steps());
            }
        }
        assertNotNull(inner[0], "the second run was refused");
        // in one JVM the one-training-per-JVM guard answers first (before the folder is touched)
        assertTrue(inner[0].getMessage().contains("another training is running in this JVM"), inner[0].getMessage());
    }
}
