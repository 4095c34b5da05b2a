package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reference log-prob cache is untrusted input: a count that does not match the data (2^30, or
 * one more than the file holds) or a NaN/infinite value makes the run rebuild the cache (as
 * docs/training.md says of a damaged cache) and train exactly as with a good one, instead of
 * failing or skipping every step.
 */
class ReferenceCacheTest {
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
        data = SyntheticTask.pairs(24, 1);
    }

    record Run(double[] losses, long skipped, String console) {}

    static Run train(Path cache) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        TrainConfig cfg = ResumeTest.config(3, Map.of("logging_steps", 1, "gradient_accumulation_steps", 1,
                "precompute_ref_log_probs", true));
        try (CausalLM policy = CausalLM.load(model, ResumeTest.TRAIN);
                PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy).loss(Losses.create("dpo", Map.of()))
                        .trainPairs(data).cacheDir(cache).console(new PrintStream(buf, true, StandardCharsets.UTF_8)).build()) {
            List<Map<String, Object>> h = t.train().history();
            return new Run(h.stream().filter(m -> m.containsKey("learning_rate"))
                    .mapToDouble(m -> ((Number) m.get("loss")).doubleValue()).toArray(),
                    h.stream().filter(m -> m.containsKey("skipped")).count(), buf.toString(StandardCharsets.UTF_8));
        }
    }

    static Path cacheFile(Path cache) throws Exception {
        try (Stream<Path> s = Files.walk(cache)) {
            return s.filter(f -> f.getFileName().toString().startsWith("ref-")).findFirst().orElseThrow();
        }
    }

    static void edit(Path file, long at, Consumer<ByteBuffer> put, int bytes) throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(bytes); // DataOutputStream: big-endian
            put.accept(b);
            b.flip();
            ch.write(b, at);
        }
    }

    @Test
    void aDamagedOrEditedCacheIsRebuiltNotTrusted(@TempDir Path dir) throws Exception {
        Path cache = dir.resolve("cache");
        Run first = train(cache);
        assertEquals(3, first.losses().length);
        assertEquals(0, first.skipped());
        Path file = cacheFile(cache);
        byte[] good = Files.readAllBytes(file);
        Run reused = train(cache);
        assertTrue(reused.console().contains("reference model not loaded"), reused.console());

        String[] edits = {"count 2^30", "count + 1", "a NaN value", "an infinite value"};
        for (String what : edits) {
            Files.write(file, good);
            switch (what) {
                case "count 2^30" -> edit(file, 4, b -> b.putInt(1 << 30), 4);
                case "count + 1" -> edit(file, 4, b -> b.putInt(ByteBuffer.wrap(good).getInt(4) + 1), 4);
                case "a NaN value" -> edit(file, 8 + 16, b -> b.putFloat(Float.NaN), 4);
                default -> edit(file, 8 + 20 * 3 + 16, b -> b.putFloat(Float.NEGATIVE_INFINITY), 4);
            }
            Run r = train(cache);
            assertEquals(0, r.skipped(), what + ": no step skipped\n" + r.console());
            assertArrayEquals(first.losses(), r.losses(), 1e-6, what);
            assertTrue(r.console().contains("is not a valid reference cache for this run") && r.console().contains("rebuilt"),
                    what + ": " + r.console());
            assertArrayEquals(good, Files.readAllBytes(file), what + ": the cache is written again, as it was");
        }
    }
}
