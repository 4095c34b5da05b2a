package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.model.SafeTensors.Checkpoint;
import io.github.align4j.model.SafeTensors.DType;
import io.github.align4j.model.SafeTensors.Entry;
import io.github.align4j.model.SafeTensors.Tensor;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SafeTensorsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    // ---------------------------------------------------------------- helpers

    private static ByteBuffer f32(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            b.putFloat(x);
        }
        return b.flip();
    }

    private static float[] floats(ByteBuffer b) {
        ByteBuffer d = b.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[d.remaining() / 4];
        for (int i = 0; i < out.length; i++) {
            out[i] = d.getFloat(i * 4);
        }
        return out;
    }

    private static Entry entry(String name, long[] shape, float... v) {
        return new Entry(name, shape, () -> f32(v));
    }

    /** Writes a safetensors file by hand: 8-byte length, the header as given, then data. */
    private static Path raw(Path file, long headerLength, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength).put(h).put(data);
        Files.write(file, b.array());
        return file;
    }

    private static Path raw(Path file, String header, byte[] data) throws IOException {
        return raw(file, header.getBytes(StandardCharsets.UTF_8).length, header, data);
    }

    private static byte[] shorts(int... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int x : v) {
            b.putShort((short) x);
        }
        return b.array();
    }

    private Set<String> listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return new TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
        }
    }

    private static Align4jException openFails(Path path, String... expected) {
        Align4jException e = assertThrows(Align4jException.class, () -> SafeTensors.open(path).close());
        for (String s : expected) {
            assertTrue(e.getMessage().contains(s), () -> "'" + s + "' not in: " + e.getMessage());
        }
        return e;
    }

    // ---------------------------------------------------------------- round trips

    @Test
    void f32RoundTripIsBitExact() {
        float[] a = {1.5f, -0.0f, Float.MIN_VALUE, Float.MAX_VALUE, Float.NaN, -3.25e-20f};
        float[] b = {42f};
        SafeTensors.write(dir, List.of(entry("w.a", new long[] {2, 3}, a), entry("b", new long[] {}, b)),
                DType.F32, Long.MAX_VALUE);
        assertEquals(Set.of("model.safetensors"), Set.of(dir.toFile().list()));
        try (Checkpoint ck = SafeTensors.open(dir)) {
            assertEquals(List.of("w.a", "b"), new ArrayList<>(ck.names()));
            Tensor t = ck.get("w.a");
            assertEquals(DType.F32, t.dtype());
            assertArrayEquals(new long[] {2, 3}, t.shape());
            assertEquals(6, t.size());
            assertTrue(t.data().isReadOnly());
            assertEquals(ByteOrder.LITTLE_ENDIAN, t.data().order());
            float[] back = floats(t.asFloat32());
            for (int i = 0; i < a.length; i++) {
                assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(back[i]), "element " + i);
            }
            assertTrue(t.asFloat32().isDirect(), "F32 is the mapped view, not a copy");
            assertEquals(1, ck.get("b").size());
            assertEquals(42f, ck.get("b").asFloat32().getFloat(0));
            assertEquals(Map.of("format", "pt"), ck.metadata());
            assertEquals(DType.F32, ck.dominantDType());
            assertEquals(List.of(dir.resolve("model.safetensors")), ck.files());
            assertTrue(ck.contains("b"));
            assertFalse(ck.contains("c"));
            assertNull(ck.get("c"));
        }
    }

    @Test
    void bf16IsRoundedToNearestEven() {
        float[] in = {
            1.00390625f, // 1 + 2^-8: tie, 1.0 is even -> 1.0
            1.01171875f, // 1 + 3*2^-8: tie, odd below -> up to 1.015625
            1.004150390625f, // 1 + 2^-8 + 2^-12: above half -> 1.0078125
            1.003662109375f, // 1 + 2^-8 - 2^-12: below half -> 1.0
            1.001953125f, // 1 + 2^-9: below half -> 1.0
            -1.01171875f, // negative tie -> -1.015625
            Float.NaN,
            Float.intBitsToFloat(0x7f800001), // NaN whose payload is all in the dropped bits
            Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY,
            Float.MAX_VALUE, // rounds up past the largest bf16 -> infinity
            -0.0f,
            3.0f,
        };
        float[] want = {1.0f, 1.015625f, 1.0078125f, 1.0f, 1.0f, -1.015625f, Float.NaN, Float.NaN,
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, -0.0f, 3.0f};
        SafeTensors.write(dir, List.of(entry("x", new long[] {in.length}, in)), DType.BF16, 1 << 20);
        try (Checkpoint ck = SafeTensors.open(dir)) {
            Tensor t = ck.get("x");
            assertEquals(DType.BF16, t.dtype());
            assertEquals(in.length * 2, t.data().capacity());
            assertEquals(DType.BF16, ck.dominantDType());
            float[] got = floats(t.asFloat32());
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], got[i], "element " + i); // assertEquals(float) treats NaN == NaN, -0 != 0
            }
            assertEquals((short) 0x3F82, t.data().getShort(2)); // raw bits of 1.015625
        }
    }

    @Test
    void bf16WriterStreamsTensorsLargerThanItsChunk() {
        int n = 700_000; // 2.8 MB of F32: several 1 MiB output chunks
        ByteBuffer data = ByteBuffer.allocateDirect(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            data.putFloat(i * 0.5f);
        }
        data.flip();
        SafeTensors.write(dir, List.of(new Entry("big", new long[] {n}, () -> data)), DType.BF16, Long.MAX_VALUE);
        assertEquals(0, data.position(), "the caller's buffer is not consumed");
        try (Checkpoint ck = SafeTensors.open(dir)) {
            ByteBuffer f = ck.get("big").asFloat32();
            for (int i : new int[] {0, 1, 255, 256, 257, 262_143, 262_144, n - 1}) {
                float x = i * 0.5f;
                float r = Float.intBitsToFloat((SafeTensorsWriter.bf16(x) & 0xffff) << 16);
                assertEquals(r, f.getFloat(i * 4), "element " + i);
            }
            assertEquals(256f, f.getFloat(512 * 4)); // exact in bf16
            assertEquals(131072f, f.getFloat(262_144 * 4));
        }
    }

    @Test
    void readsF16ByHand() throws IOException {
        String header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[0,16]}}";
        Path file = raw(dir.resolve("half.safetensors"), header,
                shorts(0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400, 0x8000, 0x7C00, 0x7E00));
        try (Checkpoint ck = SafeTensors.open(file)) {
            Tensor t = ck.get("h");
            assertEquals(DType.F16, t.dtype());
            assertEquals(file, t.file());
            assertEquals(Map.of(), ck.metadata());
            assertEquals(DType.F16, ck.dominantDType());
            float[] v = floats(t.asFloat32());
            assertEquals(1.0f, v[0]);
            assertEquals(-2.0f, v[1]);
            assertEquals(65504f, v[2]);
            assertEquals(5.9604645e-8f, v[3]); // 2^-24, subnormal
            assertEquals(6.1035156e-5f, v[4]); // 2^-14, smallest normal
            assertEquals(-0.0f, v[5]);
            assertEquals(Float.POSITIVE_INFINITY, v[6]);
            assertTrue(Float.isNaN(v[7]));
        }
    }

    @Test
    void readsI64Raw() throws IOException {
        ByteBuffer d = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).putLong(7).putLong(-1).putLong(1L << 40);
        String header = "{\"__metadata__\":{\"format\":\"pt\",\"n\":\"3\"},"
                + "\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}}";
        Path file = raw(dir.resolve("ids.safetensors"), header, d.array());
        try (Checkpoint ck = SafeTensors.open(file)) {
            Tensor t = ck.get("ids");
            assertEquals(DType.I64, t.dtype());
            assertArrayEquals(new long[] {3}, t.shape());
            assertEquals(7, t.data().getLong(0));
            assertEquals(-1, t.data().getLong(8));
            assertEquals(1L << 40, t.data().getLong(16));
            assertEquals(Map.of("format", "pt", "n", "3"), ck.metadata());
            assertEquals(DType.F32, ck.dominantDType(), "no float tensors: F32");
            Align4jException e = assertThrows(Align4jException.class, t::asFloat32);
            assertTrue(e.getMessage().contains("ids.safetensors") && e.getMessage().contains("'ids'"), e.getMessage());
        }
    }

    @Test
    void dominantDTypeCountsElements() throws IOException {
        String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                + "\"c\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]}}";
        try (Checkpoint ck = SafeTensors.open(raw(dir.resolve("m.safetensors"), header, new byte[14]))) {
            assertEquals(DType.BF16, ck.dominantDType());
        }
    }

    @Test
    void shardsAndReadsBackIdentical() throws IOException {
        List<Entry> entries = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            float[] v = new float[16];
            for (int j = 0; j < v.length; j++) {
                v[j] = i * 100 + j;
            }
            entries.add(entry("layer." + i, new long[] {4, 4}, v));
        }
        SafeTensors.write(dir, entries, DType.F32, 130); // 64 bytes each: 2 + 2 + 1
        String[] shards = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
            "model-00003-of-00003.safetensors"};
        assertEquals(new TreeSet<>(List.of(shards[0], shards[1], shards[2], "model.safetensors.index.json")), listing());
        JsonNode index = JSON.readTree(dir.resolve("model.safetensors.index.json").toFile());
        assertEquals(320, index.at("/metadata/total_size").asLong());
        assertEquals(shards[0], index.at("/weight_map/layer.1").asText());
        assertEquals(shards[1], index.at("/weight_map/layer.2").asText());
        assertEquals(shards[2], index.at("/weight_map/layer.4").asText());
        try (Checkpoint ck = SafeTensors.open(dir)) {
            assertEquals(List.of("layer.0", "layer.1", "layer.2", "layer.3", "layer.4"), new ArrayList<>(ck.names()));
            assertEquals(3, ck.files().size());
            assertEquals(dir.resolve(shards[1]), ck.get("layer.3").file());
            for (int i = 0; i < 5; i++) {
                assertArrayEquals(floats(entries.get(i).f32Data().get()), floats(ck.get("layer." + i).asFloat32()));
            }
            assertEquals(Map.of("format", "pt"), ck.metadata());
        }
        // the index path itself opens the same checkpoint
        try (Checkpoint ck = SafeTensors.open(dir.resolve("model.safetensors.index.json"))) {
            assertEquals(5, ck.names().size());
        }
    }

    @Test
    void headerIsAlignedAndCarriesMetadata() throws IOException {
        for (int len = 1; len <= 8; len++) {
            Path d = dir.resolve("n" + len);
            String name = "t".repeat(len);
            SafeTensors.write(d, List.of(entry(name, new long[] {3}, 1, 2, 3), entry("z", new long[] {1}, 4)),
                    DType.BF16, Long.MAX_VALUE);
            byte[] file = Files.readAllBytes(d.resolve("model.safetensors"));
            long n = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            assertEquals(0, n % 8, "header length " + n);
            assertEquals(8 + n + 8, file.length, "contiguous data, no gaps");
            String text = new String(file, 8, (int) n, StandardCharsets.UTF_8);
            String json = text.stripTrailing();
            assertTrue(json.startsWith("{") && json.endsWith("}"), text);
            assertTrue(text.substring(json.length()).chars().allMatch(c -> c == ' '), "padding is spaces");
            JsonNode h = JSON.readTree(text);
            assertEquals("pt", h.at("/__metadata__/format").asText());
            assertEquals("BF16", h.at("/" + name + "/dtype").asText());
            assertEquals("[0,6]", h.get(name).get("data_offsets").toString());
            assertEquals("[6,8]", h.get("z").get("data_offsets").toString());
            assertEquals("[3]", h.get(name).get("shape").toString());
        }
    }

    @Test
    void requireNamesCheckpointTensorAndReason() {
        SafeTensors.write(dir, List.of(entry("a", new long[] {1}, 1)), DType.F32, Long.MAX_VALUE);
        try (Checkpoint ck = SafeTensors.open(dir)) {
            assertEquals("a", ck.require("a", "x").name());
            Align4jException e = assertThrows(Align4jException.class, () -> ck.require("lm_head.weight", "tie_word_embeddings=false"));
            assertTrue(e.getMessage().startsWith(dir + ": tensor 'lm_head.weight' is missing "
                    + "(needed by config.json: tie_word_embeddings=false)"), e.getMessage());
        }
    }

    @Test
    void getMapsOnceAndHandsOutIndependentViews() {
        SafeTensors.write(dir, List.of(entry("a", new long[] {2}, 1, 2)), DType.F32, Long.MAX_VALUE);
        Checkpoint ck = SafeTensors.open(dir);
        Tensor t1 = ck.get("a");
        t1.data().position(4);
        assertEquals(0, ck.get("a").data().position());
        assertEquals(1f, t1.asFloat32().getFloat(0), "asFloat32 covers the whole tensor");
        ck.close();
        assertEquals(2f, t1.data().getFloat(4), "a handed-out tensor outlives close");
        assertThrows(IllegalStateException.class, () -> ck.get("a"));
    }

    // ---------------------------------------------------------------- atomic writes and layouts

    @Test
    void failedWriteLeavesOldFileAndNoTempFiles() throws IOException {
        SafeTensors.write(dir, List.of(entry("a", new long[] {1}, 7)), DType.F32, Long.MAX_VALUE);
        byte[] before = Files.readAllBytes(dir.resolve("model.safetensors"));
        List<Entry> bad = List.of(entry("a", new long[] {1}, 8),
                new Entry("b", new long[] {1}, () -> { throw new IllegalStateException("boom"); }));
        assertEquals("boom", assertThrows(IllegalStateException.class,
                () -> SafeTensors.write(dir, bad, DType.F32, Long.MAX_VALUE)).getMessage());
        assertEquals(Set.of("model.safetensors"), listing());
        assertArrayEquals(before, Files.readAllBytes(dir.resolve("model.safetensors")));
        // the same for a sharded write over a single file
        assertThrows(IllegalStateException.class, () -> SafeTensors.write(dir, bad, DType.F32, 4));
        assertEquals(Set.of("model.safetensors"), listing());
        // and for data of the wrong length
        List<Entry> wrong = List.of(entry("a", new long[] {2}, 1));
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(dir, wrong, DType.BF16, Long.MAX_VALUE));
        assertArrayEquals(before, Files.readAllBytes(dir.resolve("model.safetensors")));
        // a successful write replaces it and leaves nothing else
        SafeTensors.write(dir, List.of(entry("a", new long[] {1}, 9)), DType.F32, Long.MAX_VALUE);
        assertEquals(Set.of("model.safetensors"), listing());
        try (Checkpoint ck = SafeTensors.open(dir)) {
            assertEquals(9f, ck.get("a").asFloat32().getFloat(0));
        }
    }

    @Test
    void switchingLayoutsRemovesStaleFiles() throws IOException {
        List<Entry> four = List.of(entry("a", new long[] {1}, 1), entry("b", new long[] {1}, 2),
                entry("c", new long[] {1}, 3), entry("d", new long[] {1}, 4));
        SafeTensors.write(dir, four, DType.F32, 4); // 4 shards
        assertEquals(5, listing().size());
        SafeTensors.write(dir, four, DType.F32, 8); // 2 shards: the 4 old ones go
        assertEquals(Set.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                "model.safetensors.index.json"), listing());
        SafeTensors.write(dir, four.subList(0, 2), DType.F32, 4); // same names, other contents
        try (Checkpoint ck = SafeTensors.open(dir)) {
            assertEquals(List.of("a", "b"), new ArrayList<>(ck.names()));
        }
        SafeTensors.write(dir, four, DType.F32, 100); // single: index and shards go
        assertEquals(Set.of("model.safetensors"), listing());
        SafeTensors.write(dir, four, DType.F32, 8); // sharded again: the single file goes
        assertEquals(3, listing().size());
        assertFalse(listing().contains("model.safetensors"));
        try (Checkpoint ck = SafeTensors.open(dir)) {
            assertEquals(4f, ck.get("d").asFloat32().getFloat(0));
        }
    }

    @Test
    void tensorLargerThanShardLimitGetsItsOwnShard() throws IOException {
        SafeTensors.write(dir, List.of(entry("s", new long[] {1}, 1), entry("big", new long[] {4}, 1, 2, 3, 4),
                entry("t", new long[] {1}, 2)), DType.F32, 8);
        JsonNode map = JSON.readTree(dir.resolve("model.safetensors.index.json").toFile()).get("weight_map");
        assertEquals("model-00001-of-00003.safetensors", map.get("s").asText());
        assertEquals("model-00002-of-00003.safetensors", map.get("big").asText());
        assertEquals("model-00003-of-00003.safetensors", map.get("t").asText());
    }

    // ---------------------------------------------------------------- large files (sparse, fast)

    @Test
    void tensorsBeyond2GiBInAFileAreMapped() throws IOException {
        long gap = 3L << 30; // a 3 GiB hole: sparse on disk
        String header = "{\"far\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + gap + "," + (gap + 8) + "]}}";
        Path file = raw(dir.resolve("sparse.safetensors"), header, new byte[0]);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(f32(1.25f, -8f), ch.size() + gap);
        }
        try (Checkpoint ck = SafeTensors.open(file)) {
            assertArrayEquals(new float[] {1.25f, -8f}, floats(ck.get("far").asFloat32()));
        }
    }

    @Test
    void tensorOf2GiBFailsClearlyOnGet() throws IOException {
        long bytes = 1L << 31;
        String header = "{\"huge\":{\"dtype\":\"F32\",\"shape\":[" + (bytes / 4) + "],\"data_offsets\":[0," + bytes + "]}}";
        Path file = raw(dir.resolve("huge.safetensors"), header, new byte[0]);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(f.length() + bytes);
        }
        try (Checkpoint ck = SafeTensors.open(file)) {
            assertTrue(ck.contains("huge"));
            Align4jException e = assertThrows(Align4jException.class, () -> ck.get("huge"));
            assertTrue(e.getMessage().contains("huge.safetensors") && e.getMessage().contains("'huge'")
                    && e.getMessage().contains("2 GiB"), e.getMessage());
        }
    }

    // ---------------------------------------------------------------- malformed files

    @Test
    void fileShorterThan8Bytes() throws IOException {
        Path f = dir.resolve("tiny.safetensors");
        Files.write(f, new byte[] {1, 2, 3});
        openFails(f, "tiny.safetensors", "3 bytes");
    }

    @Test
    void truncatedHeader() throws IOException {
        Path f = raw(dir.resolve("cut.safetensors"), 100, "{\"a\":", new byte[0]);
        openFails(f, "cut.safetensors", "header of 100 bytes", "truncated");
    }

    @Test
    void absurdHeaderLength() throws IOException {
        openFails(raw(dir.resolve("big.safetensors"), 200_000_000L, "{}", new byte[0]), "big.safetensors", "absurd");
        openFails(raw(dir.resolve("neg.safetensors"), -1L, "{}", new byte[0]), "neg.safetensors",
                "18446744073709551615", "absurd");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
        "not JSON         | {\"w\": {\"dtype\"           | not valid JSON",
        "trailing garbage | {} x                       | not valid JSON",
        "not an object    | [1, 2]                     | not a JSON object",
        "empty header     | `  `                       | not a JSON object",
        "duplicate tensor | {\"w\":{},\"w\":{}}        | 'w'",
        "entry not object | {\"w\": 3}                 | tensor 'w': entry must be an object",
        "bad metadata     | {\"__metadata__\": [1]}    | __metadata__",
        "missing dtype    | {\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}                       | tensor 'w': missing \"dtype\"",
        "missing shape    | {\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}                   | tensor 'w': missing \"shape\"",
        "missing offsets  | {\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}                            | tensor 'w': missing \"data_offsets\"",
        "dtype not string | {\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}           | tensor 'w': \"dtype\" must be a string",
        "unknown dtype    | {\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}     | tensor 'w': dtype \"F64\" is not supported; align4j reads [F32, F16, BF16, I64]",
        "shape not array  | {\"w\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}   | tensor 'w': \"shape\" must be an array of integers",
        "shape of floats  | {\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}   | tensor 'w': \"shape\" must be an array of integers",
        "one offset       | {\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}       | tensor 'w': \"data_offsets\" must be an array of 2 integers",
        "huge offset      | {\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}} | tensor 'w': \"data_offsets\" must be",
        "negative dim     | {\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,4]}}  | tensor 'w': shape [2, -1] has a negative dimension",
        "end before begin | {\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}     | tensor 'w': data_offsets [8, 4] must be [begin, end]",
        "wrong byte count | {\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,4]}}    | tensor 'w': data_offsets [0, 4] span 4 bytes but shape [3] of BF16 needs 6",
        "shape overflow   | {\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}} | tensor 'w': shape [4294967296, 4294967296] is impossibly large",
        "beyond the end   | {\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}    | tensor 'w': data ends at byte 16 of the data section but the file holds only 8",
        "overlap          | {\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}} | tensors 'v' and 'w' overlap",
    })
    void malformedHeader(String label, String header, String expected) throws IOException {
        Path f = raw(dir.resolve("bad.safetensors"), header, new byte[8]);
        Align4jException e = openFails(f, "bad.safetensors", expected);
        assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
    }

    @Test
    void emptyAndContainedTensorsAreNoOverlapButContainmentIs() throws IOException {
        String ok = "{\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                + "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        try (Checkpoint ck = SafeTensors.open(raw(dir.resolve("ok.safetensors"), ok, new byte[8]))) {
            assertEquals(0, ck.get("e").size());
            assertEquals(0, ck.get("e").data().capacity());
        }
        String nested = "{\"v\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
        openFails(raw(dir.resolve("nest.safetensors"), nested, new byte[16]), "nest.safetensors", "'v' and 'a' overlap");
    }

    // ---------------------------------------------------------------- indexes and missing files

    private void twoShards() {
        SafeTensors.write(dir, List.of(entry("a", new long[] {1}, 1), entry("b", new long[] {1}, 2)), DType.F32, 4);
    }

    private Path index(String json) throws IOException {
        return Files.writeString(dir.resolve("model.safetensors.index.json"), json);
    }

    @Test
    void indexNotJson() throws IOException {
        twoShards();
        index("{\"weight_map\": ");
        openFails(dir, "model.safetensors.index.json", "not valid JSON");
    }

    @Test
    void indexWithoutWeightMap() throws IOException {
        twoShards();
        index("{\"metadata\": {}}");
        openFails(dir, "model.safetensors.index.json", "\"weight_map\"");
        index("{\"weight_map\": {\"a\": 3}}");
        openFails(dir, "model.safetensors.index.json", "weight_map entry 'a' must name a shard file");
    }

    @Test
    void indexNamesMissingShard() throws IOException {
        twoShards();
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        openFails(dir, "model.safetensors.index.json", "model-00002-of-00002.safetensors", "'b'", "does not exist");
    }

    @Test
    void indexPutsTensorInWrongShard() throws IOException {
        twoShards();
        index("{\"weight_map\": {\"a\": \"model-00002-of-00002.safetensors\","
                + " \"b\": \"model-00002-of-00002.safetensors\"}}");
        openFails(dir, "model.safetensors.index.json", "'a'", "model-00002-of-00002.safetensors", "no such tensor");
    }

    @Test
    void sameTensorInTwoShards() throws IOException {
        twoShards();
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        raw(dir.resolve("model-00002-of-00002.safetensors"), h, new byte[4]);
        openFails(dir, "model-00002-of-00002.safetensors", "tensor 'a' is also in", "model-00001-of-00002.safetensors");
    }

    @Test
    void missingFileOrFolderSaysWhatWasLookedFor() throws IOException {
        openFails(dir.resolve("nope"), "nope", "no such file or folder", "model.safetensors");
        openFails(dir, dir.toString(), "found neither model.safetensors nor model.safetensors.index.json");
        Files.write(dir.resolve("pytorch_model.bin"), new byte[1]);
        openFails(dir, "PyTorch .bin weights only");
    }

    @Test
    void halfToFloatMatchesKnownValues() {
        assertEquals(0.33325195f, Float.intBitsToFloat(SafeTensors.halfToFloatBits((short) 0x3555)));
        assertEquals(-5.9604645e-8f, Float.intBitsToFloat(SafeTensors.halfToFloatBits((short) 0x8001)));
        assertEquals(6.097555e-5f, Float.intBitsToFloat(SafeTensors.halfToFloatBits((short) 0x03FF))); // largest subnormal
        assertSame(DType.F16, DType.valueOf("F16"));
        assertEquals(2, DType.BF16.bytes);
    }
}
