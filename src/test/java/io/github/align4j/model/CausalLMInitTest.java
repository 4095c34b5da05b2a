package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.TestData;
import io.github.align4j.internal.TinyTokenizer;
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

    /** torch_dtype bfloat16 / float16: the same values as the float32 init, rounded (to nearest even) once. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"bfloat16", "float16"})
    void halfPrecisionWritesTheRoundedFloat32Weights(String dtype) throws Exception {
        Path out = tmp.resolve(dtype);
        CausalLM.Written w = CausalLM.init("mistral", Map.of("hidden_size", 32, "num_hidden_layers", 2,
                "num_key_value_heads", 2, "torch_dtype", dtype), null, out, 9);
        assertEquals(dtype, new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("config.json").toFile())
                .get("torch_dtype").asText());
        SafeTensors.DType want = dtype.equals("bfloat16") ? SafeTensors.DType.BF16 : SafeTensors.DType.F16;
        Path f32Dir = tmp.resolve(dtype + "-f32");
        CausalLM.init("mistral", Map.of("hidden_size", 32, "num_hidden_layers", 2, "num_key_value_heads", 2), null, f32Dir, 9);
        try (SafeTensors.Checkpoint c = SafeTensors.open(out);
                CausalLM direct = CausalLM.load(f32Dir, CausalLM.Options.inference().withDevice(ai.djl.Device.cpu()))) {
            assertEquals(direct.parameters().keySet(), c.names());
            for (Map.Entry<String, ai.djl.ndarray.NDArray> e : direct.parameters().entrySet()) {
                SafeTensors.Tensor t = c.get(e.getKey());
                assertEquals(want, t.dtype(), e.getKey());
                float[] f32 = e.getValue().toFloatArray();
                java.nio.ByteBuffer half = t.data();
                for (int i = 0; i < f32.length; i++) {
                    short h = want == SafeTensors.DType.BF16 ? SafeTensorsWriter.bf16(f32[i]) : SafeTensorsWriter.f16(f32[i]);
                    assertEquals(h, half.getShort(2 * i), e.getKey() + "[" + i + "]");
                }
            }
        }
        Align4jException e = assertThrows(Align4jException.class, () -> CausalLM.init("llama", Map.of("torch_dtype", "int8"),
                null, tmp.resolve("bad"), 0));
        assertTrue(e.getMessage().contains("'torch_dtype' is \"int8\""), e.getMessage());
    }

    /** One generator for the whole model: the same seed gives the same values; weights are normal(0, 0.02). */
    @Test
    void randomWeightsAreSeededAndNormal() {
        int n = 1_500_000;
        float[] a = new float[n];
        float[] b = new float[n];
        new RandomWeights(42).fill("model.layers.0.mlp.up_proj.weight", n, java.nio.FloatBuffer.wrap(a));
        new RandomWeights(42).fill("model.layers.0.mlp.up_proj.weight", n, java.nio.FloatBuffer.wrap(b));
        assertArrayEquals(a, b);
        float[] other = new float[16];
        new RandomWeights(43).fill("x.weight", 16, java.nio.FloatBuffer.wrap(other));
        assertFalse(other[0] == a[0], "seeds differ");
        double sum = 0;
        double sq = 0;
        for (float v : a) {
            sum += v;
            sq += (double) v * v;
        }
        double mean = sum / n;
        double std = Math.sqrt(sq / n - mean * mean);
        // standard errors over 1.5M values: mean 0.02/√n = 1.6e-5, std 0.02/√(2n) = 1.2e-5; allow 10 of each
        assertEquals(0, mean, 1.6e-4);
        assertEquals(0.02, std, 1.2e-4);
        float[] norm = new float[5];
        RandomWeights w = new RandomWeights(1);
        w.fill("model.norm.weight", 5, java.nio.FloatBuffer.wrap(norm));
        assertArrayEquals(new float[] {1, 1, 1, 1, 1}, norm);
        w.fill("transformer.h.0.ln_1.bias", 5, java.nio.FloatBuffer.wrap(norm));
        assertArrayEquals(new float[5], norm);
    }

    @Test
    void tokenizerSizeCountsAddedTokens() {
        assertEquals(50257, RandomModel.tokenizerSize(TestData.shared("data/tokenizers/gpt2/tokenizer.json")));
    }
}
