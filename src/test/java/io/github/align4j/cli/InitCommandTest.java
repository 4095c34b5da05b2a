package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.TestData;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class InitCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final CausalLM.Options CPU = new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32);

    @TempDir
    Path tmp;

    static void assertUserError(Cli.Result r, String... fragments) {
        assertEquals(CliSupport.EXIT_USER, r.exit(), r.toString());
        assertTrue(r.err().startsWith("error: "), r.toString());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r);
        for (String f : fragments) {
            assertTrue(r.err().contains(f), "stderr should contain '" + f + "': " + r);
        }
    }

    /** Every type: written with the built-in tokenizer, loaded back, weights equal to a direct init with the seed. */
    @ParameterizedTest
    @ValueSource(strings = {"llama", "mistral", "qwen2", "gpt2"})
    void initWritesALoadableCheckpointOfEveryType(String type) throws Exception {
        Path cfgFile = tmp.resolve("cfg.json");
        String hidden = type.equals("gpt2") ? "n_embd" : "hidden_size";
        Files.writeString(cfgFile, "{\"" + hidden + "\": 32, \"" + (type.equals("gpt2") ? "n_layer" : "num_hidden_layers") + "\": 1}");
        Path out = tmp.resolve("model");
        Cli.Result r = Cli.run("init", "--model-type", type, "--config", cfgFile.toString(), "--out", out.toString(), "--seed", "7");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("wrote a random " + type + " model"), r.out());
        for (String f : new String[] {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        JsonNode written = JSON.readTree(out.resolve("config.json").toFile());
        assertEquals(type, written.get("model_type").asText());
        assertEquals(794, written.get("vocab_size").asInt(), "vocab_size defaults to the tokenizer's size");
        assertEquals(791, written.get("eos_token_id").asInt(), "eos id from tokenizer_config.json");
        assertTrue(written.get("bos_token_id").isNull(), "the tiny tokenizer has no BOS");
        assertEquals("float32", written.get("torch_dtype").asText());
        assertEquals(1, written.get(type.equals("gpt2") ? "n_layer" : "num_hidden_layers").asInt());
        ModelConfig cfg = ModelConfig.load(out);
        assertEquals(32, cfg.hiddenSize());
        assertEquals(4, cfg.numHeads());
        assertEquals(128, cfg.intermediateSize(), "4 x hidden");
        try (CausalLM loaded = CausalLM.load(out, CPU); CausalLM direct = CausalLM.init(cfg, 7, CPU)) {
            Map<String, NDArray> a = loaded.parameters();
            Map<String, NDArray> b = direct.parameters();
            assertEquals(b.keySet(), a.keySet());
            for (String k : a.keySet()) {
                assertArrayEquals(b.get(k).toFloatArray(), a.get(k).toFloatArray(), k);
            }
        }
    }

    /** Defaults alone make a valid tiny model; a real tokenizer sets vocab_size, bos and eos. */
    @Test
    void defaultsAndARealTokenizer() throws Exception {
        Path tok = TestData.shared("data/tokenizers/phi-3-mini");
        Path cfgFile = tmp.resolve("cfg.json");
        Files.writeString(cfgFile, "{\"model_type\": \"llama\", \"hidden_size\": 16, \"num_hidden_layers\": 1}");
        Path out = tmp.resolve("phi");
        Cli.Result r = Cli.run("init", "--config", cfgFile.toString(), "--tokenizer", tok.toString(), "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        ModelConfig cfg = ModelConfig.load(out);
        assertEquals("llama", cfg.modelType());
        assertEquals(32011, cfg.vocabSize(), "model.vocab + added_tokens");
        assertEquals(1, cfg.bosTokenId());
        assertEquals(32000, cfg.eosTokenId(), "<|endoftext|> per tokenizer_config.json");
        assertEquals(Files.readString(tok.resolve("tokenizer_config.json")), Files.readString(out.resolve("tokenizer_config.json")));

        Path tiny = tmp.resolve("tiny");
        r = Cli.run("init", "--model-type", "mistral", "--out", tiny.toString());
        assertEquals(0, r.exit(), r.toString());
        ModelConfig m = ModelConfig.load(tiny);
        assertEquals(64, m.hiddenSize());
        assertEquals(256, m.intermediateSize());
        assertEquals(2, m.numLayers());
        assertEquals(4, m.numHeads());
        assertEquals(4096, m.slidingWindow());
    }

    /**
     * A tokenizer whose token ids run past the vocabulary limit (or int range) is a user error,
     * exit 2, and the --out folder init created is not left behind empty; one the user had stays.
     */
    @Test
    void tokenIdsPastTheLimitAreAUserErrorAndLeaveNoFolder() throws Exception {
        Path tiny = tmp.resolve("tiny-src");
        assertEquals(0, Cli.run("init", "--model-type", "llama", "--out", tiny.toString()).exit());
        ObjectMapper json = new ObjectMapper();
        for (String id : new String[] {"2147483646", "3000000000", "-5", "1.5", "\"7\""}) {
            Path tok = tmp.resolve("tok-" + id.hashCode());
            Files.createDirectories(tok);
            com.fasterxml.jackson.databind.node.ObjectNode t =
                    (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(tiny.resolve("tokenizer.json").toFile());
            ((com.fasterxml.jackson.databind.node.ArrayNode) t.get("added_tokens")).addObject()
                    .put("content", "<big>").put("special", true).set("id", json.readTree(id));
            json.writeValue(tok.resolve("tokenizer.json").toFile(), t);
            Files.copy(tiny.resolve("tokenizer_config.json"), tok.resolve("tokenizer_config.json"));
            Path out = tmp.resolve("out-" + id.hashCode());
            assertUserError(Cli.run("init", "--model-type", "llama", "--tokenizer", tok.toString(), "--out", out.toString()),
                    tok.resolve("tokenizer.json") + ": added token \"<big>\" has id " + id,
                    "ids must be integers from 0 to 16777215");
            assertFalse(Files.exists(out), "no empty --out left behind for id " + id);
        }
        // a vocabulary within the limit but a model too big to hold: refused before anything is written
        Path cfg = tmp.resolve("huge.json");
        Files.writeString(cfg, "{\"vocab_size\": 16000000, \"hidden_size\": 65536, \"num_attention_heads\": 512}");
        Path out = tmp.resolve("huge");
        assertUserError(Cli.run("init", "--model-type", "llama", "--config", cfg.toString(), "--out", out.toString()),
                "tensor 'model.embed_tokens.weight' would have shape (16000000, 65536), over 2 GiB");
        assertFalse(Files.exists(out));
        Path mine = tmp.resolve("mine");
        Files.createDirectories(mine);
        assertUserError(Cli.run("init", "--model-type", "llama", "--config", cfg.toString(), "--out", mine.toString()),
                "over 2 GiB");
        assertTrue(Files.isDirectory(mine), "a folder the user made is theirs: kept");
    }

    /** --torch-dtype bfloat16 writes BF16 tensors and says so in config.json; a bad value names the flag. */
    @Test
    void torchDtypeFlag() throws Exception {
        Path out = tmp.resolve("bf16");
        Cli.Result r = Cli.run("init", "--model-type", "llama", "--torch-dtype", "bfloat16", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        assertEquals("bfloat16", JSON.readTree(out.resolve("config.json").toFile()).get("torch_dtype").asText());
        byte[] f = Files.readAllBytes(out.resolve("model.safetensors"));
        assertTrue(new String(f, 0, 2000, java.nio.charset.StandardCharsets.UTF_8).contains("\"dtype\":\"BF16\""));
        r = Cli.run("init", "--model-type", "llama", "--torch-dtype", "fp8", "--out", tmp.resolve("x").toString());
        assertUserError(r, "--torch-dtype", "'torch_dtype' is \"fp8\"");
        assertFalse(Files.exists(tmp.resolve("x")));
    }

    @Test
    void modelTypeOptionWinsOverTheFile() throws Exception {
        Path cfgFile = tmp.resolve("cfg.json");
        Files.writeString(cfgFile, "{\"model_type\": \"bert\", \"hidden_size\": 16, \"num_hidden_layers\": 1}");
        Cli.Result r = Cli.run("init", "--model-type", "qwen2", "--config", cfgFile.toString(), "--out", tmp.resolve("q").toString());
        assertEquals(0, r.exit(), r.toString());
        ModelConfig q = ModelConfig.load(tmp.resolve("q"));
        assertEquals("qwen2", q.modelType());
        assertTrue(q.qkvBias());
    }

    @Test
    void unknownModelTypeInConfigIsAUserError() throws Exception {
        Path cfgFile = tmp.resolve("cfg.json");
        Files.writeString(cfgFile, "{\"model_type\": \"bert\", \"hidden_size\": 16}");
        Path out = tmp.resolve("m");
        assertUserError(Cli.run("init", "--config", cfgFile.toString(), "--out", out.toString()),
                cfgFile.toString(), "'model_type'", "bert", "llama, mistral, qwen2, gpt2");
        assertFalse(Files.exists(out), "nothing written");
        assertUserError(Cli.run("init", "--model-type", "falcon", "--out", out.toString()), "--model-type 'falcon'");
        Files.writeString(cfgFile, "{\"hidden_size\": 16}");
        assertUserError(Cli.run("init", "--config", cfgFile.toString(), "--out", out.toString()), "'model_type' is missing");
    }

    @Test
    void badConfigValuesNameTheKeyAndFile() throws Exception {
        Path cfgFile = tmp.resolve("cfg.json");
        Files.writeString(cfgFile, "{\"hidden_size\": -3}");
        assertUserError(Cli.run("init", "--model-type", "llama", "--config", cfgFile.toString(), "--out", tmp.resolve("a").toString()),
                cfgFile.toString(), "'hidden_size'");
        Files.writeString(cfgFile, "{\"vocab_size\": 100}");
        assertUserError(Cli.run("init", "--model-type", "llama", "--config", cfgFile.toString(), "--out", tmp.resolve("a").toString()),
                "'vocab_size' is 100", "794 tokens");
        Files.writeString(cfgFile, "{\"hidden_size\": 16,");
        assertUserError(Cli.run("init", "--model-type", "llama", "--config", cfgFile.toString(), "--out", tmp.resolve("a").toString()),
                cfgFile.toString(), "not valid JSON");
        assertUserError(Cli.run("init", "--model-type", "llama", "--config", tmp.resolve("nope.json").toString(),
                "--out", tmp.resolve("a").toString()), "--config", "nope.json", "no such file");
        assertUserError(Cli.run("init", "--model-type", "llama", "--tokenizer", tmp.resolve("none").toString(),
                "--out", tmp.resolve("a").toString()), "--tokenizer", "no such folder");
    }

    @Test
    void refusesANonEmptyFolderUnlessOverwrite() throws Exception {
        Path out = tmp.resolve("m");
        Files.createDirectories(out);
        Files.writeString(out.resolve("notes.txt"), "mine");
        assertUserError(Cli.run("init", "--model-type", "llama", "--out", out.toString()), "not empty", "--overwrite");
        assertFalse(Files.exists(out.resolve("config.json")));
        Cli.Result r = Cli.run("init", "--model-type", "llama", "--out", out.toString(), "--overwrite");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(Files.exists(out.resolve("model.safetensors")));
        assertEquals("mine", Files.readString(out.resolve("notes.txt")));
    }

    @Test
    void missingOutIsAUsageError() {
        Cli.Result r = Cli.run("init", "--model-type", "llama");
        assertEquals(CliSupport.EXIT_USER, r.exit(), r.toString());
        assertTrue(r.err().contains("--out"), r.toString());
        assertTrue(r.err().contains("align4j init --help"), r.toString());
    }
}
