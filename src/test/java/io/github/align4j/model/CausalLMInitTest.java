package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link CausalLM#init(String, Map, Path, Path, long)}: the library's way to make a random model. */
class CausalLMInitTest {
    @TempDir
    Path tmp;

    @Test
    void writesALoadableModelWithTheBuiltInTokenizerAndTheCallersKeys() {
        Path out = tmp.resolve("tiny");
        CausalLM.Written w = CausalLM.init("llama", Map.of("hidden_size", 32, "num_hidden_layers", 1,
                "rms_norm_eps", 1e-5), null, out, 7);
        assertEquals(out, w.dir());
        assertEquals(794, w.config().vocabSize(), "vocab_size defaults to the tokenizer's size");
        assertEquals(32, w.config().hiddenSize());
        assertEquals(1, w.config().numLayers());
        assertEquals(1e-5, w.config().normEps(), 0);
        assertEquals(791, w.config().eosTokenId(), "eos id from the built-in tokenizer_config.json");
        // embed 794*32 + per layer (4 attention 32*32 + 3 mlp 32*128 + 2 norms 32) + final norm 32 + head 794*32
        long expected = 794L * 32 + (4L * 32 * 32 + 3L * 32 * 128 + 2 * 32) + 32 + 794L * 32;
        assertEquals(expected, w.parameterCount());
        assertTrue(w.summary().startsWith("wrote a random llama model (" + String.format(java.util.Locale.ROOT, "%,d", expected)),
                w.summary());
        for (String f : TinyTokenizer.FILES) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        try (CausalLM lm = CausalLM.load(out, CausalLM.Options.inference().withDevice(ai.djl.Device.cpu()))) {
            assertEquals(expected, lm.parameterCount());
        }
    }

    @Test
    void theSameSeedGivesTheSameWeightsAndTypeComesFromTheMap() throws Exception {
        Map<String, Object> cfg = Map.of("model_type", "gpt2", "n_embd", 32, "n_layer", 1);
        CausalLM.init(null, cfg, null, tmp.resolve("a"), 3);
        CausalLM.init(null, cfg, null, tmp.resolve("b"), 3);
        CausalLM.init(null, cfg, null, tmp.resolve("c"), 4);
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a/model.safetensors")),
                Files.readAllBytes(tmp.resolve("b/model.safetensors")));
        assertFalse(java.util.Arrays.equals(Files.readAllBytes(tmp.resolve("a/model.safetensors")),
                Files.readAllBytes(tmp.resolve("c/model.safetensors"))));
        assertEquals("gpt2", ModelConfig.load(tmp.resolve("a")).modelType());
    }

    @Test
    void userErrorsNameTheProblem() {
        Align4jException e = assertThrows(Align4jException.class,
                () -> CausalLM.init("falcon", Map.of(), null, tmp.resolve("x"), 0));
        assertTrue(e.getMessage().contains("'falcon'"), e.getMessage());
        e = assertThrows(Align4jException.class, () -> CausalLM.init(null, Map.of(), null, tmp.resolve("x"), 0));
        assertTrue(e.getMessage().contains("'model_type' is missing"), e.getMessage());
        e = assertThrows(Align4jException.class,
                () -> CausalLM.init("llama", Map.of("vocab_size", 10), null, tmp.resolve("x"), 0));
        assertTrue(e.getMessage().contains("'vocab_size' is 10") && e.getMessage().contains("794"), e.getMessage());
        e = assertThrows(Align4jException.class, () -> CausalLM.init("llama", Map.of(), tmp, tmp.resolve("x"), 0));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("x")), "nothing written on an error");
    }

    @Test
    void tokenizerSizeCountsAddedTokens() {
        assertEquals(50257, RandomModel.tokenizerSize(TestData.shared("data/tokenizers/gpt2/tokenizer.json")));
    }
}
