package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.internal.SequenceLimits;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real tiny checkpoint with a hostile config.json or damaged weights: each fails with one
 * {@link Align4jException} naming the file and key (or tensor) before anything big is built.
 */
class HostileModelTest {
    static {
        Offline.ensure();
    }

    static final ObjectMapper JSON = new ObjectMapper();
    static final CausalLM.Options CPU = new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32);

    @TempDir
    static Path dir;
    static Path llama;
    static Path gpt2;

    @BeforeAll
    static void setUp() throws Exception {
        llama = dir.resolve("llama");
        try (CausalLM lm = CausalLM.init(CausalLMTest.tinyLlama(false), 1, CPU)) {
            lm.save(llama);
        }
        gpt2 = dir.resolve("gpt2");
        try (CausalLM lm = CausalLM.init(CausalLMTest.tinyGpt2(), 1, CPU)) {
            lm.save(gpt2);
        }
    }

    /** A copy of {@code src} whose config.json has {@code key} set to {@code value} (a JSON literal; null removes). */
    static Path withConfig(Path src, String name, String key, String value) throws Exception {
        Path d = dir.resolve(name);
        Files.createDirectories(d);
        for (String f : List.of("model.safetensors")) {
            Files.copy(src.resolve(f), d.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        ObjectNode cfg = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
        if (value == null) {
            cfg.remove(key);
        } else {
            cfg.set(key, JSON.readTree(value));
        }
        Files.write(d.resolve("config.json"), JSON.writeValueAsBytes(cfg));
        return d;
    }

    static String loadFails(Path model) {
        Align4jException e = assertThrows(Align4jException.class, () -> CausalLM.load(model, CPU).close());
        return e.getMessage();
    }

    @Test
    void millionLayersFailsAtOnceNamingTheKey() throws Exception {
        Path m = withConfig(llama, "layers", "num_hidden_layers", "1000000");
        String msg = loadFails(m);
        assertTrue(msg.startsWith(m.resolve("config.json") + ": key 'num_hidden_layers' is 1000000, above align4j's limit of 1024"), msg);
        // within the bound but more than the weights hold: checked against the headers before building
        m = withConfig(llama, "layers5", "num_hidden_layers", "5");
        msg = loadFails(m);
        assertTrue(msg.startsWith(m.resolve("config.json") + ": key 'num_hidden_layers' is 5 but the weights ("), msg);
        assertTrue(msg.contains("holds 2 layers (0 to 1)"), msg);
        m = withConfig(llama, "layers1", "num_hidden_layers", "1");
        assertTrue(loadFails(m).contains("key 'num_hidden_layers' is 1 but the weights"), "fewer layers than the weights hold");
        m = withConfig(gpt2, "gpt2layers", "n_layer", "900");
        assertTrue(loadFails(m).contains("key 'n_layer' is 900 but the weights"));
    }

    @Test
    void sizesAreCheckedAgainstTheWeightHeaders() throws Exception {
        Object[][] cases = {
            {"vocab_size", "16000000", "key 'vocab_size' implies 16000000 where the weights' tensor 'model.embed_tokens.weight' has 50"},
            {"hidden_size", "131072", "key 'hidden_size' implies 131072 where the weights' tensor 'model.embed_tokens.weight' has 16"},
            // without head_dim, fewer heads mean wider heads: q_proj keeps its shape, k_proj does not
            {"num_attention_heads", "2", "key 'num_key_value_heads' implies 16 where the weights' tensor 'model.layers.0.self_attn.k_proj.weight' has 8"},
            {"head_dim", "1024", "key 'num_attention_heads' or 'head_dim' implies 4096 where"},
            {"num_key_value_heads", "4", "key 'num_key_value_heads' implies 16 where the weights' tensor 'model.layers.0.self_attn.k_proj.weight' has 8"},
            {"intermediate_size", "1000000", "key 'intermediate_size' implies 1000000 where the weights' tensor 'model.layers.0.mlp.gate_proj.weight' has 24"},
        };
        int i = 0;
        for (Object[] c : cases) {
            Path m = withConfig(llama, "size" + i++, (String) c[0], (String) c[1]);
            String msg = loadFails(m);
            assertTrue(msg.startsWith(m.resolve("config.json") + ": "), msg);
            assertTrue(msg.contains((String) c[2]), c[0] + ": " + msg);
        }
        Path m = withConfig(gpt2, "gpt2pos", "n_positions", "1000000");
        assertTrue(loadFails(m).contains("key 'n_positions' implies 1000000 where the weights' tensor 'transformer.wpe.weight' has 32"));
        m = withConfig(gpt2, "gpt2inner", "n_inner", "4096");
        assertTrue(loadFails(m).contains("key 'n_inner' implies 4096 where"));
    }

    @Test
    void boundsAndTypesOfConfigValues() throws Exception {
        Object[][] cases = {
            {"num_attention_heads", "100000", "key 'num_attention_heads' is 100000, above align4j's limit of 1024"},
            {"vocab_size", "4294967296", "key 'vocab_size' is 4294967296, above align4j's limit"},
            {"vocab_size", "\"50\"", "key 'vocab_size' must be a positive integer, got \"50\""},
            {"num_hidden_layers", "36893488147419103232", "key 'num_hidden_layers' is 36893488147419103232, out of range [1, 1024]"},
            {"num_key_value_heads", "4611686018427387904", "key 'num_key_value_heads' is 4611686018427387904, out of range [-2147483648, 2147483647]"},
            {"eos_token_id", "4611686018427387904", "key 'eos_token_id' is 4611686018427387904, out of range [0, 2147483647]"},
            {"num_key_value_heads", "2.0", "key 'num_key_value_heads' must be an integer, got 2.0"},
            {"hidden_size", "16.5", "key 'hidden_size' must be a positive integer, got 16.5"},
            {"head_dim", "-4", "key 'head_dim' must be a positive integer, got -4"},
            {"max_position_embeddings", "0", "key 'max_position_embeddings' must be a positive integer, got 0"},
            {"max_position_embeddings", "1e30", "key 'max_position_embeddings' must be a positive integer"},
            {"rope_theta", "\"big\"", "key 'rope_theta' must be a finite number, got \"big\""},
            {"rope_theta", "-1", "key 'rope_theta' must be a positive number"},
            {"rms_norm_eps", "[1]", "key 'rms_norm_eps' must be a finite number"},
            {"eos_token_id", "[\"x\"]", "key 'eos_token_id' must be a token id"},
            {"bos_token_id", "-3", "key 'bos_token_id' must be a token id"},
            {"tie_word_embeddings", "\"no\"", "key 'tie_word_embeddings' must be true or false"},
            {"rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 4, "
                    + "\"original_max_position_embeddings\": 8192}", "key 'rope_scaling' for llama3 needs"},
            {"rope_scaling", "{\"rope_type\": 3}", "key 'rope_scaling.rope_type' must be a string"},
            {"rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4, "
                    + "\"original_max_position_embeddings\": -1}", "key 'rope_scaling.original_max_position_embeddings' must be a positive integer"},
        };
        int i = 0;
        for (Object[] c : cases) {
            Path m = withConfig(llama, "bound" + i++, (String) c[0], (String) c[1]);
            String msg = loadFails(m);
            assertTrue(msg.startsWith(m.resolve("config.json") + ": " + c[2]), c[0] + "=" + c[1] + ": " + msg);
        }
    }

    /** Overwrites one float of a tensor in a copy of the checkpoint. */
    static Path poisoned(Path src, String name, String tensor, int element, float value) throws Exception {
        Path d = withConfig(src, name, "note", "\"a copy\"");
        long offset;
        try (FileChannel ch = FileChannel.open(d.resolve("model.safetensors"), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(len, 0);
            long n = len.getLong(0);
            ByteBuffer head = ByteBuffer.allocate((int) n);
            ch.read(head, 8);
            JsonNode h = JSON.readTree(head.array());
            offset = 8 + n + h.get(tensor).get("data_offsets").get(0).asLong() + 4L * element;
            ByteBuffer v = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, value);
            ch.write(v, offset);
        }
        return d;
    }

    @Test
    void nonFiniteWeightsAreRefusedAtLoadNamingFileAndTensor() throws Exception {
        Path m = poisoned(llama, "nan", "model.layers.1.mlp.down_proj.weight", 7, Float.NaN);
        String msg = loadFails(m);
        assertTrue(msg.startsWith(m.resolve("model.safetensors") + ": tensor 'model.layers.1.mlp.down_proj.weight' holds NaN "
                + "at element 7 (of 384)"), msg);
        m = poisoned(gpt2, "inf", "transformer.h.0.ln_1.bias", 15, Float.NEGATIVE_INFINITY);
        msg = loadFails(m);
        assertTrue(msg.contains("tensor 'transformer.h.0.ln_1.bias' holds -Infinity at element 15 (of 16)"), msg);
        // trainable loads (a copy) are refused the same way
        Path nan = m;
        assertThrows(Align4jException.class, () -> CausalLM.load(nan, new CausalLM.Options(Device.cpu(), true, DataType.FLOAT32)));
    }

    @Test
    void firstNonFiniteFindsEveryPositionAndOnlyNonFinite() {
        Random r = new Random(3);
        for (int n : new int[] {1, 2, 3, 8, 9}) {
            for (int at = 0; at < n; at++) {
                for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.intBitsToFloat(0x7fc00001)}) {
                    ByteBuffer b = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.LITTLE_ENDIAN);
                    for (int i = 0; i < n; i++) {
                        b.putFloat(4 * i, i == at ? bad : (float) r.nextGaussian() * 1e30f);
                    }
                    assertEquals(at, SafeTensors.firstNonFinite(b), n + "/" + at + "/" + bad);
                }
            }
        }
        ByteBuffer ok = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        ok.putFloat(0, Float.MAX_VALUE).putFloat(4, -Float.MAX_VALUE).putFloat(8, Float.MIN_VALUE);
        assertEquals(-1, SafeTensors.firstNonFinite(ok));
    }

    @Test
    void firstNonFiniteWeightOfALiveModel() throws Exception {
        try (CausalLM lm = CausalLM.load(llama, CPU)) {
            assertNull(lm.firstNonFiniteWeight());
        }
        try (CausalLM lm = CausalLM.init(CausalLMTest.tinyLlama(false), 1, new CausalLM.Options(Device.cpu(), true, DataType.FLOAT32))) {
            lm.parameters().get("model.layers.1.self_attn.o_proj.weight").set(new NDIndex("2, 3"), Float.POSITIVE_INFINITY);
            assertEquals("model.layers.1.self_attn.o_proj.weight", lm.firstNonFiniteWeight());
        }
    }

    @Test
    void sequencesLongerThanThePositionsAreRefusedForEveryType() throws Exception {
        ModelConfig c = ModelConfig.load(llama);
        assertEquals(2048, c.maxPositions());
        Align4jException e = assertThrows(Align4jException.class,
                () -> SequenceLimits.checkLength(c, 20_122, "data.jsonl: row 4", "pass --max-length 2048"));
        assertEquals("data.jsonl: row 4 has 20122 tokens, more than the model's max_position_embeddings (2048, in "
                + "config.json); pass --max-length 2048", e.getMessage());
        SequenceLimits.checkLength(c, 2048, "x", "y"); // the limit itself is fine
        try (CausalLM lm = CausalLM.load(llama, CPU); NDManager m = lm.manager().newSubManager()) {
            int[][] seqs = {new int[20_122], new int[5]};
            e = assertThrows(Align4jException.class, () -> SequenceScorer.score(lm, m, seqs, new int[] {1, 1}));
            assertTrue(e.getMessage().startsWith("a sequence to score has 20122 tokens, more than the model's "
                    + "max_position_embeddings (2048"), e.getMessage());
        }
    }

    @Test
    void aBatchWhoseAttentionCannotFitIsRefusedBeforeLibtorchIsAsked() throws Exception {
        Path m = dir.resolve("longpos");
        ObjectNode cfg = CausalLMTest.tinyLlama(false).json().deepCopy();
        cfg.put("max_position_embeddings", 16_000_000);
        try (CausalLM lm = CausalLM.init(ModelConfig.parse(cfg, "test"), 1, CPU)) {
            lm.save(m);
        }
        ModelConfig c = ModelConfig.load(m);
        // 4 heads · 20122² · 4 bytes · 2 (scores and probabilities) + the mask = 13.6 GB
        long need = SequenceLimits.lowerBoundBytes(c, 1, 20_122, false, DataType.FLOAT32);
        assertEquals(2L * 4 * 20_122L * 20_122 * 4 + 20_122L * 20_122 * 4, need);
        Align4jException e = assertThrows(Align4jException.class, () -> SequenceLimits.checkMemory(c, 1, 20_122, false,
                DataType.FLOAT32, 8L << 30, "cpu()", "lower --batch-size"));
        assertEquals("a batch of 1 sequences of 20122 tokens needs at least 13.6 GiB for its attention (4 heads × 20122² "
                + "× 4 bytes) but cpu() has 8.0 GiB available; lower --batch-size", e.getMessage());
        SequenceLimits.checkMemory(c, 1, 20_122, false, DataType.FLOAT32, 16L << 30, "cpu()", "x"); // fits
        // training keeps one [B, H, T, T] per layer: (2 + 1) copies here
        assertEquals(3L * 4 * 20_122L * 20_122 * 4 + 20_122L * 20_122 * 4,
                SequenceLimits.lowerBoundBytes(c, 1, 20_122, true, DataType.FLOAT32));
        // through the scorer, with the machine's real memory: 3 million tokens need over 250 TiB
        try (CausalLM lm = CausalLM.load(m, CPU); NDManager mg = lm.manager().newSubManager()) {
            int[][] seqs = {new int[3_000_000]};
            e = assertThrows(Align4jException.class, () -> SequenceScorer.score(lm, mg, seqs, new int[] {1}));
            assertTrue(e.getMessage().startsWith("a batch of 1 sequences of 3000000 tokens needs at least"), e.getMessage());
            assertTrue(e.getMessage().endsWith("lower the batch size or max_length"), e.getMessage());
        }
    }

    @Test
    void initRefusesTensorsItCouldNotHold() throws Exception {
        ObjectNode cfg = CausalLMTest.tinyLlama(false).json().deepCopy();
        cfg.put("vocab_size", 16_000_000);
        cfg.put("hidden_size", 65_536);
        cfg.put("num_attention_heads", 512);
        cfg.put("num_key_value_heads", 512);
        ModelConfig c = ModelConfig.parse(cfg, "test");
        Align4jException e = assertThrows(Align4jException.class, () -> CausalLM.init(c, 1, CPU));
        assertTrue(e.getMessage().startsWith("config.json: tensor 'model.embed_tokens.weight' would have shape (16000000, 65536), "
                + "over 2 GiB"), e.getMessage());
    }

    @Test
    void configJsonOfWrongTypesNeverEscapesAsABug() throws Exception {
        // every top-level key of a real config replaced by values of each JSON type: load works or names the key
        ObjectNode base = (ObjectNode) JSON.readTree(llama.resolve("config.json").toFile());
        String[] values = {"null", "true", "\"x\"", "[]", "{}", "-1", "0", "1.5", "1e308", "99999999999999999999", "[1, 2]"};
        int i = 0;
        for (Map.Entry<String, JsonNode> k : base.properties()) {
            for (String v : values) {
                Path m = withConfig(llama, "types" + i++, k.getKey(), v);
                try {
                    CausalLM.load(m, CPU).close();
                } catch (Align4jException e) {
                    assertTrue(e.getMessage().startsWith(m.toString()), k.getKey() + "=" + v + ": " + e.getMessage());
                }
            }
        }
    }

    static final String[] HOSTILE = {"-1", "0", "1", "2", "3", "7", "16", "24", "50", "1000000", "2147483648", "9223372036854775807",
        "1e308", "1.5", "\"x\"", "null", "true", "[]", "{}", "[2, 3]"};

    /**
     * Seeded random hostile edits of a real checkpoint (config values of every type and size;
     * safetensors header shapes, offsets and dtypes; damaged data; truncation), each loaded by
     * {@link CausalLM#load}: it works, or fails with an Align4jException that names a file of the
     * model folder. Never another exception ("a bug in align4j"), and never a big allocation.
     */
    @Test
    void fuzzedCheckpointsLoadOrFailWithAMessage() throws Exception {
        Random r = new Random(10);
        int refused = 0;
        for (int c = 0; c < 200; c++) {
            Path src = r.nextBoolean() ? llama : gpt2;
            Path m = dir.resolve("fuzz" + c);
            Files.createDirectories(m);
            ObjectNode cfg = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
            byte[] st = Files.readAllBytes(src.resolve("model.safetensors"));
            int mode = r.nextInt(4);
            if (mode == 0) { // a config value
                List<String> keys = new java.util.ArrayList<>();
                cfg.fieldNames().forEachRemaining(keys::add);
                cfg.set(keys.get(r.nextInt(keys.size())), JSON.readTree(HOSTILE[r.nextInt(HOSTILE.length)]));
            } else if (mode == 1) { // a header entry
                ByteBuffer b = ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN);
                int n = (int) b.getLong(0);
                ObjectNode h = (ObjectNode) JSON.readTree(java.util.Arrays.copyOfRange(st, 8, 8 + n));
                List<String> names = new java.util.ArrayList<>();
                h.fieldNames().forEachRemaining(names::add);
                names.remove("__metadata__");
                ObjectNode t = (ObjectNode) h.get(names.get(r.nextInt(names.size())));
                switch (r.nextInt(3)) {
                    case 0 -> {
                        com.fasterxml.jackson.databind.node.ArrayNode shape = t.putArray("shape");
                        for (int k = r.nextInt(4); k > 0; k--) {
                            shape.add(JSON.readTree(HOSTILE[r.nextInt(12)]));
                        }
                    }
                    case 1 -> t.withArray("data_offsets").set(r.nextInt(2), JSON.readTree(HOSTILE[r.nextInt(12)]));
                    default -> t.put("dtype", new String[] {"F16", "BF16", "I64", "F64", "U8", "f32"}[r.nextInt(6)]);
                }
                byte[] head = JSON.writeValueAsBytes(h);
                byte[] data = java.util.Arrays.copyOfRange(st, 8 + n, st.length);
                st = new byte[8 + head.length + data.length];
                ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN).putLong(0, head.length);
                System.arraycopy(head, 0, st, 8, head.length);
                System.arraycopy(data, 0, st, 8 + head.length, data.length);
            } else if (mode == 2) { // damaged data bytes (NaN and infinity among them)
                for (int k = 1 + r.nextInt(4); k > 0; k--) {
                    st[st.length - 1 - r.nextInt(st.length / 2)] = (byte) (r.nextBoolean() ? 0x7f : 0xff);
                }
            } else { // truncated
                st = java.util.Arrays.copyOf(st, r.nextInt(st.length));
            }
            Files.write(m.resolve("config.json"), JSON.writeValueAsBytes(cfg));
            Files.write(m.resolve("model.safetensors"), st);
            try {
                CausalLM.load(m, CPU).close();
            } catch (Align4jException e) {
                refused++;
                assertTrue(e.getMessage().startsWith(m.toString()), "case " + c + " (mode " + mode + "): " + e.getMessage());
            }
        }
        assertTrue(refused > 100, "most hostile edits are refused: " + refused);
    }
}
