package io.github.align4j.cli;

import static io.github.align4j.cli.InitCommandTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code align4j merge} against concurrent runs, kills and hostile adapters: it locks {@code --out},
 * removes only what it wrote, names what a killed run left, and never writes a broken model.
 */
class MergeSafetyTest {
    @TempDir
    Path tmp;

    /** A tiny Llama base and a LoRA adapter on it whose A and B all hold {@code a} and {@code b} (random when NaN). */
    private static void adapter(Path base, Path adapter, double alpha, float a, float b) {
        if (!Files.exists(base)) {
            CausalLM.init("llama", Map.of(), null, base, 3);
        }
        try (CausalLM lm = CausalLM.load(base, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32))) {
            lm.addAdapters(new LoraConfig(4, alpha, 0, List.of("q_proj", "v_proj"), false), 5);
            Random rnd = new Random(11);
            for (Map.Entry<String, NDArray> e : lm.trainableParameters().entrySet()) {
                float[] v = new float[Math.toIntExact(e.getValue().size())];
                float fill = e.getKey().endsWith("lora_A.weight") ? a : b;
                for (int i = 0; i < v.length; i++) {
                    v[i] = Float.isNaN(fill) ? (float) (0.1 * rnd.nextGaussian()) : fill;
                }
                e.getValue().set(v);
            }
            lm.saveAdapter(adapter);
        }
    }

    /** Every file under dir (relative name → bytes), hidden ones included. */
    private static Map<String, byte[]> snapshot(Path dir) throws Exception {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                m.put(dir.relativize(p).toString(), Files.readAllBytes(p));
            }
        }
        return m;
    }

    private static void assertSame(Map<String, byte[]> want, Map<String, byte[]> got) {
        assertEquals(want.keySet(), got.keySet());
        want.forEach((k, v) -> assertArrayEquals(v, got.get(k), k + " is byte-identical"));
    }

    private static String[] merge(Path base, Path adapter, Path out, String... more) {
        String[] args = Stream.concat(Stream.of("merge", "--model", base.toString(), "--adapter", adapter.toString(), "--out",
                out.toString()), Arrays.stream(more)).toArray(String[]::new);
        return args;
    }

    /**
     * Merge B (an adapter whose merge overflows) holds --out, stopped while its engine loads; merge
     * A into the same folder is refused rather than written under it, and B's failure leaves
     * nothing. Then A's finished output survives B run again, with and without --overwrite,
     * byte for byte. (Before: A succeeded, and B's failure deleted A's model.)
     */
    @Test
    void aFailingMergeNeverRemovesAnotherMergesOutput() throws Exception {
        assumeTrue(Files.isDirectory(Path.of("/proc/self")), "watches the child through /proc (Linux)");
        Path base = tmp.resolve("base");
        Path good = tmp.resolve("good");
        Path huge = tmp.resolve("huge");
        adapter(base, good, 8, Float.NaN, Float.NaN);
        adapter(base, huge, 1e9, 3e18f, 3e18f);
        Path out = tmp.resolve("out");

        ChildRun b = ChildRun.start(tmp.resolve("b.log"), List.of(merge(base, huge, out)));
        try {
            Path maps = Path.of("/proc/" + b.process.pid() + "/maps");
            // B has locked --out (or, before, checked that it is empty) before its engine loads
            assertTrue(b.await(() -> {
                try {
                    return Files.readString(maps).contains("libtorch");
                } catch (Exception e) {
                    return false;
                }
            }, 120_000), "B loads its engine: " + b.output());
            b.signal("STOP");
            Cli.Result a = Cli.run(merge(base, good, out));
            assertUserError(a, "--out " + out, "another align4j run is writing to this folder");
            b.signal("CONT");
            assertEquals(2, b.exit(120), b.output());
            assertTrue(b.output().contains("adapter " + huge) && b.output().contains("q_proj.weight")
                    && b.output().contains("Infinity"), b.output());
        } finally {
            b.process.destroyForcibly();
        }
        assertFalse(Files.exists(out), "B made --out and removed all it wrote");

        Cli.Result a = Cli.run(merge(base, good, out));
        assertEquals(0, a.exit(), a.toString());
        Map<String, byte[]> first = snapshot(out);
        assertTrue(first.containsKey("model.safetensors") && first.containsKey("config.json")
                && first.containsKey("manifest.json"), first.keySet().toString());

        Cli.Result r = Cli.run(merge(base, huge, out));
        assertUserError(r, "--out " + out, "already holds a model merged by align4j");
        assertSame(first, snapshot(out));
        r = Cli.run(merge(base, huge, out, "--overwrite"));
        assertUserError(r, "adapter " + huge, "Infinity");
        assertSame(first, snapshot(out));
        r = Cli.run(merge(base, tmp.resolve("nowhere"), out, "--overwrite"));
        assertEquals(2, r.exit(), r.toString());
        assertSame(first, snapshot(out));

        // --overwrite with a good adapter replaces it (here with the same bytes: the merge is deterministic)
        r = Cli.run(merge(base, good, out, "--overwrite"));
        assertEquals(0, r.exit(), r.toString());
        assertSame(first, snapshot(out));
    }

    /**
     * What a kill leaves (a hidden model.safetensors temporary file of an older align4j, the scratch
     * folder of this one) is named with its size; --overwrite removes exactly that and never a
     * file align4j did not write. (Before: "the folder is not empty", naming nothing.)
     */
    @Test
    void whatAKillLeftIsNamedAndOverwriteRemovesOnlyThat() throws Exception {
        Path base = tmp.resolve("base");
        Path good = tmp.resolve("good");
        adapter(base, good, 8, Float.NaN, Float.NaN);
        Path out = tmp.resolve("out");
        Files.createDirectories(out);
        Path leftover = out.resolve(".model.safetensors.18c2f9a04b7.tmp");
        Files.write(leftover, new byte[300_000]);

        Cli.Result r = Cli.run(merge(base, good, out));
        assertUserError(r, ".model.safetensors.18c2f9a04b7.tmp (293.0 KiB)", "--overwrite");
        assertTrue(r.err().contains("rm -r -- '" + leftover + "'"), r.err());
        assertTrue(Files.exists(leftover));

        Path mine = out.resolve("notes.txt");
        Files.writeString(mine, "keep");
        r = Cli.run(merge(base, good, out, "--overwrite"));
        assertUserError(r, "holds what align4j did not write: notes.txt", "Move these out");
        assertTrue(Files.exists(leftover), "nothing is removed while a foreign file is there");
        assertEquals("keep", Files.readString(mine));
        Files.move(mine, tmp.resolve("notes.txt"));

        // this align4j's own leftover: the marked scratch folder holding a half-written temporary file
        Path scratch = out.resolve(".align4j-merge.tmp");
        Files.createDirectories(scratch);
        Files.write(scratch.resolve(".align4j-scratch"), new byte[0]);
        Files.write(scratch.resolve(".model.safetensors.1a2b.tmp"), new byte[2048]);
        r = Cli.run(merge(base, good, out));
        assertUserError(r, ".align4j-merge.tmp/ (2.0 KiB)", ".model.safetensors.18c2f9a04b7.tmp (293.0 KiB)");

        r = Cli.run(merge(base, good, out, "--overwrite"));
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("overwrite: removed what an interrupted merge left in " + out), r.out());
        assertFalse(Files.exists(leftover));
        assertFalse(Files.exists(scratch));
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(List.of(".align4j.lock", "config.json", "manifest.json", "model.safetensors", "tokenizer.json",
                    "tokenizer_config.json"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }

        // killed while moving into place: the manifest (moved last) is missing, the lock file records the rest
        Files.delete(out.resolve("manifest.json"));
        long weights = Files.size(out.resolve("model.safetensors"));
        r = Cli.run(merge(base, good, out));
        assertTrue(weights > 1024 && weights < 1 << 20, "a size in KiB: " + weights);
        assertUserError(r, "interrupted align4j merge left: config.json (", "model.safetensors ("
                + String.format(java.util.Locale.ROOT, "%.1f KiB", weights / 1024.0) + ")",
                "rm -r -- '" + out.resolve("config.json") + "'");
        r = Cli.run(merge(base, good, out, "--overwrite"));
        assertEquals(0, r.exit(), r.toString());
        assertTrue(Files.isRegularFile(out.resolve("manifest.json")));

        // a scratch folder without align4j's marker is not align4j's: named, never removed
        Files.createDirectories(scratch);
        Files.writeString(scratch.resolve("x"), "user");
        r = Cli.run(merge(base, good, out, "--overwrite"));
        assertUserError(r, ".align4j-merge.tmp/ (no align4j manifest.json or .align4j-scratch)", "did not write");
        assertEquals("user", Files.readString(scratch.resolve("x")));
    }

    /** Weights a merge makes infinite are refused naming adapter and tensor; nothing is left at --out. */
    @Test
    void anAdapterWithHugeValuesIsRefusedAndLeavesNothing() throws Exception {
        Path base = tmp.resolve("base");
        Path huge = tmp.resolve("huge");
        adapter(base, huge, 1e9, 3e18f, 3e18f);
        Path out = tmp.resolve("out");
        Cli.Result r = Cli.run(merge(base, huge, out));
        assertUserError(r, "merging adapter " + huge + " (scaling 2.5E8) into model.layers.0.self_attn.q_proj.weight gives "
                + "Infinity at element 0", "Nothing was written");
        assertFalse(Files.exists(out), "a new --out is not left behind");

        Path empty = tmp.resolve("empty");
        Files.createDirectories(empty);
        r = Cli.run(merge(base, huge, empty, "--dtype", "bfloat16"));
        assertUserError(r, "adapter " + huge, "Infinity");
        try (Stream<Path> s = Files.list(empty)) {
            assertEquals(List.of(), s.toList(), "the user's empty folder stays empty (no lock file either)");
        }
    }

    /** Merged weights beyond ±65504 are refused as float16 (they would be infinity) and written as float32. */
    @Test
    void float16OverflowIsRefused() throws Exception {
        Path base = tmp.resolve("base");
        Path big = tmp.resolve("big");
        adapter(base, big, 8, 100f, 100f); // B·A = 4·10⁴, scaling 2: about 8·10⁴
        Path out = tmp.resolve("out16");
        Cli.Result r = Cli.run(merge(base, big, out, "--dtype", "float16"));
        assertUserError(r, "into model.layers.0.self_attn.q_proj.weight gives 800", "beyond float16's range (±65504)");
        assertTrue(r.err().contains("--dtype float32"), r.err());
        assertFalse(Files.exists(out));

        r = Cli.run(merge(base, big, tmp.resolve("out32"), "--dtype", "float32"));
        assertEquals(0, r.exit(), r.toString());
        assertTrue(Files.isRegularFile(tmp.resolve("out32/model.safetensors")));
    }
}
