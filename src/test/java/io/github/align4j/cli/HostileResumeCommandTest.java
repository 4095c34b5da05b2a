package io.github.align4j.cli;

import static io.github.align4j.cli.InitCommandTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint whose files match their manifest is still untrusted: anyone can edit it and rehash
 * the manifest. Each edit below (the hashes made to match again) makes {@code train --resume} exit 2
 * with a message naming the file and what is wrong, and write nothing: no final/, no new checkpoint,
 * checkpoint-1 as it was.
 */
class HostileResumeCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path shared;
    static ChildRun.Tiny tiny;
    /** A LoRA run of 2 steps with checkpoint-1 and final/ (removed, so that a resume continues from checkpoint-1). */
    static Path pristine;

    @TempDir
    Path tmp;

    @BeforeAll
    static void setUp() throws Exception {
        tiny = ChildRun.Tiny.make(shared);
        pristine = shared.resolve("run");
        Cli.Result r = train(pristine);
        assertEquals(0, r.exit(), r.toString());
        deleteTree(pristine.resolve("final"));
        assertTrue(Files.isRegularFile(pristine.resolve("checkpoint-1/adapter_model.safetensors")));
    }

    static Cli.Result train(Path out, String... extra) {
        List<String> a = tiny.args(out, 2);
        a.addAll(List.of("--use-peft", "--lora-r", "2", "--lora-dropout", "0", "--save-steps", "1"));
        a.addAll(List.of(extra));
        return Cli.run(a.toArray(String[]::new));
    }

    /** A copy of the pristine run with checkpoint-1 edited and its manifest rehashed; resumed; it must refuse. */
    private Path refused(Consumer<Path> edit, String... fragments) throws Exception {
        Path out = tmp.resolve("run-" + System.nanoTime());
        copyTree(pristine, out);
        Path ck = out.resolve("checkpoint-1");
        edit.accept(ck);
        rehash(ck);
        Map<String, String> before = snapshot(out);
        Cli.Result r = train(out, "--resume");
        assertUserError(r, fragments);
        assertFalse(Files.exists(out.resolve("final")), "no final/ from a refused resume: " + r);
        assertFalse(Files.exists(out.resolve("checkpoint-2")), "no new checkpoint: " + r);
        assertEquals(before, snapshot(out), "nothing in the output folder changed");
        return out;
    }

    /**
     * What align4j itself may write passes: keys it does not know (a newer version's), and window sums
     * that are NaN (a non-finite step's scores, as in the checkpoint max_nonfinite_steps stops at).
     */
    @Test
    void aRehashedCheckpointWithLegitimateValuesResumes() throws Exception {
        Path out = tmp.resolve("run");
        copyTree(pristine, out);
        state(out.resolve("checkpoint-1"), s -> {
            s.put("cpu_threads", 4);
            align4j(s).putObject("kernels").put("matmul", "mkl");
            ((ArrayNode) align4j(s).with("window").withArray("sums")).set(1, "NaN");
            // a changed setting is only a warning, but its old value is the file's text: escaped and cut short
            s.with("config").put("beta", "\u001b]0;pwned\u0007" + "x".repeat(5000));
        });
        rehash(out.resolve("checkpoint-1"));
        java.io.PrintStream err = System.err; // the trainer's console (tests run one at a time)
        java.io.ByteArrayOutputStream console = new java.io.ByteArrayOutputStream();
        Cli.Result r;
        try {
            System.setErr(new java.io.PrintStream(console, true, java.nio.charset.StandardCharsets.UTF_8));
            r = train(out, "--resume");
        } finally {
            System.setErr(err);
        }
        String c = console.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, r.exit(), r + c);
        assertTrue(c.contains("warning: resuming with changed settings: beta \\u001b]0;pwned\\u0007xxx"), c);
        assertFalse(c.contains("\u001b") || c.contains("\u0007") || c.contains("x".repeat(100)), c);
        assertTrue(Files.isRegularFile(out.resolve("final/adapter_model.safetensors")));
    }

    @Test
    void nonFiniteOrNegativeOptimizerStateIsRefused() throws Exception {
        refused(ck -> setFirst(ck.resolve("optimizer.safetensors"), "exp_avg_sq.", -1f),
                "optimizer.safetensors: tensor 'exp_avg_sq.", "holds -1.0 at element 0", "never negative");
        refused(ck -> setFirst(ck.resolve("optimizer.safetensors"), "exp_avg_sq.", Float.NaN),
                "optimizer.safetensors: tensor 'exp_avg_sq.", "holds NaN at element 0", "second moments");
        refused(ck -> setFirst(ck.resolve("optimizer.safetensors"), "exp_avg.", Float.POSITIVE_INFINITY),
                "optimizer.safetensors: tensor 'exp_avg.", "holds Infinity at element 0", "first moments");
    }

    @Test
    void aNonFiniteAdapterIsRefused() throws Exception {
        refused(ck -> setFirst(ck.resolve("adapter_model.safetensors"), "", Float.NaN),
                "adapter_model.safetensors: tensor '", "holds NaN at element 0", "the LoRA adapter");
    }

    @Test
    void trainerStateOutOfRangeIsRefused() throws Exception {
        refused(ck -> state(ck, s -> s.put("optimizer_step", -10)), "trainer_state.json: optimizer_step is -10",
                "from 0 to 1");
        refused(ck -> state(ck, s -> s.put("optimizer_step", 2.5)), "trainer_state.json: optimizer_step is 2.5");
        refused(ck -> state(ck, s -> align4j(s).put("next_batch", 1_000_000_000)),
                "trainer_state.json: align4j.next_batch is 1000000000", "from 0 to 5");
        refused(ck -> state(ck, s -> align4j(s).put("next_batch", -7)), "align4j.next_batch is -7");
        refused(ck -> state(ck, s -> align4j(s).put("next_batch", 4)), "epoch 0 and next_batch 4 are step 4",
                "not global_step 1");
        refused(ck -> state(ck, s -> align4j(s).put("epoch", 1_000_000)), "align4j.epoch is 1000000");
        refused(ck -> state(ck, s -> align4j(s).put("nonfinite_in_a_row", -3)), "align4j.nonfinite_in_a_row is -3");
        refused(ck -> state(ck, s -> align4j(s).put("elapsed_s", -1.0)), "align4j.elapsed_s");
        refused(ck -> state(ck, s -> ((ArrayNode) align4j(s).with("window").withArray("sums")).set(0, "lots")),
                "align4j.window.sums must hold numbers");
        refused(ck -> state(ck, s -> s.put("global_step", -5)), "trainer_state.json: global_step -5",
                "from 0 to 2");
        refused(ck -> state(ck, s -> s.put("global_step", 1_000_000)), "global_step 1000000", "from 0 to 2");
        refused(ck -> state(ck, s -> s.put("global_step", 2)), "global_step 2 does not match the checkpoint's step 1");
        refused(ck -> state(ck, s -> s.put("global_step", "1")), "global_step is not a whole number");
        refused(ck -> state(ck, s -> s.remove("global_step")), "no global_step");
    }

    @Test
    void anOversizedOrInflatedTrainerStateIsRefusedBeforeItIsParsed() throws Exception {
        // 17 MiB of metrics: more than a resume reads
        refused(ck -> state(ck, s -> {
            ArrayNode h = s.withArray("log_history");
            String pad = "x".repeat(1 << 20);
            for (int i = 0; i < 17; i++) {
                h.addObject().put("note", pad);
            }
        }), "trainer_state.json has ", "more than the 16777216 bytes a resume reads");
        // small records, many: more than a 1-step run writes
        refused(ck -> state(ck, s -> {
            ArrayNode h = s.withArray("log_history");
            for (int i = 0; i < 100_000; i++) {
                h.addObject();
            }
        }), "log_history has 100001 records, more than a run of 1 steps writes (6)");
        refused(ck -> state(ck, s -> {
            ObjectNode rec = s.withArray("log_history").addObject();
            for (int i = 0; i < 300; i++) {
                rec.put("k" + i, i);
            }
        }), "log_history record 1 has more than 256 fields");
        refused(ck -> state(ck, s -> {
            ObjectNode deep = s.putObject("deep");
            for (int i = 0; i < 40; i++) {
                deep = deep.putObject("d");
            }
        }), "nested deeper than 16 levels");
    }

    // ---- editing a checkpoint ----------------------------------------------------------------------

    private static ObjectNode align4j(ObjectNode state) {
        return (ObjectNode) state.get("align4j");
    }

    private static void state(Path ck, Consumer<ObjectNode> edit) {
        try {
            Path f = ck.resolve("trainer_state.json");
            ObjectNode s = (ObjectNode) JSON.readTree(f.toFile());
            edit.accept(s);
            Files.write(f, JSON.writeValueAsBytes(s));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Sets element 0 of the first F32 tensor whose name starts with prefix, in place. */
    static void setFirst(Path file, String prefix, float value) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(len, 0);
            int n = (int) len.getLong(0);
            ByteBuffer hb = ByteBuffer.allocate(n);
            ch.read(hb, 8);
            JsonNode header = JSON.readTree(hb.array());
            var names = new java.util.TreeSet<String>();
            header.fieldNames().forEachRemaining(names::add);
            for (String name : names) {
                if (name.startsWith(prefix) && !name.equals("__metadata__")) {
                    JsonNode t = header.get(name);
                    assertEquals("F32", t.get("dtype").asText());
                    long at = 8 + n + t.get("data_offsets").get(0).asLong();
                    ByteBuffer v = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, value);
                    ch.write(v, at);
                    return;
                }
            }
            throw new AssertionError("no tensor " + prefix + "* in " + file);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Rewrites manifest.json with the sizes and SHA-256 of the files as they are now. */
    static void rehash(Path ck) throws Exception {
        Path mf = ck.resolve("manifest.json");
        ObjectNode m = (ObjectNode) JSON.readTree(mf.toFile());
        for (JsonNode e : m.get("files")) {
            Path f = ck.resolve(e.get("path").asText());
            ((ObjectNode) e).put("bytes", Files.size(f));
            ((ObjectNode) e).put("sha256", sha256(f));
        }
        Files.write(mf, JSON.writeValueAsBytes(m));
    }

    static String sha256(Path f) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
    }

    /** Relative path → SHA-256 of every plain file under dir (the lock file aside). */
    static Map<String, String> snapshot(Path dir) throws Exception {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                String rel = dir.relativize(p).toString();
                if (!rel.equals(".align4j.lock")) {
                    m.put(rel, sha256(p));
                }
            }
        }
        return m;
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(q);
                } else {
                    Files.copy(p, q);
                }
            }
        }
    }

    static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
