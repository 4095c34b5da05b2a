package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoRA adapters: PEFT's initialisation, layout and files; adapters off = the base; merge; gradients. */
class LoraTest {
    static {
        Offline.ensure();
    }

    static final CausalLM.Options FROZEN = new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32);
    static final int[][] ROWS = CausalLMTest.randomRows(new Random(3), new int[] {9, 6, 12});
    static final int[] STARTS = {3, 2, 5};

    static Path base(Path dir, ModelConfig c) {
        try (CausalLM lm = CausalLM.init(c, 5, FROZEN)) {
            lm.save(dir);
        }
        return dir;
    }

    static float[] logps(CausalLM lm) {
        try (NDManager m = lm.manager().newSubManager()) {
            return SequenceScorer.score(lm, m, ROWS, STARTS).logps().toFloatArray();
        }
    }

    /** Gives every B random values (PEFT starts them at zero), so that the adapter changes the model. */
    static void randomizeB(CausalLM lm, long seed) {
        Random r = new Random(seed);
        for (Adapters.Lora l : lm.adapters().byModule.values()) {
            NDArray b = l.b().getArray();
            float[] v = new float[(int) b.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextGaussian() * 0.2);
            }
            b.set(v);
        }
    }

    static List<ModelConfig> configs() throws Exception {
        return List.of(CausalLMTest.tinyLlama(false), CausalLMTest.tinyGpt2());
    }

    @Test
    void startsEqualToTheBaseAndAdaptersOffIsTheBaseBitForBit(@TempDir Path tmp) throws Exception {
        for (ModelConfig c : configs()) {
            Path dir = base(tmp.resolve(c.modelType()), c);
            try (CausalLM lm = CausalLM.load(dir, FROZEN)) {
                float[] base = logps(lm);
                lm.addAdapters(LoraConfig.defaults().withTargetModules(List.of("all-linear")), 1);
                assertArrayEquals(base, logps(lm), 0f, c.modelType() + ": B = 0 at the start, so step 0 is the base");
                randomizeB(lm, 2);
                float[] adapted = logps(lm);
                assertFalse(java.util.Arrays.equals(base, adapted), "the adapter changes the model");
                try (CausalLM.AdaptersOff off = lm.adaptersDisabled()) {
                    assertArrayEquals(base, logps(lm), 0f, c.modelType() + ": adapters off = the base, bit for bit");
                }
                assertArrayEquals(adapted, logps(lm), 0f, "back on after the handle closes");
            }
        }
    }

    /** The adapter's A init is PEFT's Kaiming-uniform(a=√5): U(−1/√in, 1/√in); B is zero. */
    @Test
    void initialisationIsPefts(@TempDir Path tmp) throws Exception {
        Path dir = base(tmp.resolve("llama"), CausalLMTest.tinyLlama(false));
        try (CausalLM lm = CausalLM.load(dir, FROZEN).addAdapters(LoraConfig.defaults().withR(8), 3)) {
            assertEquals(List.of("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                    "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"), lm.adaptedModules(),
                    "PEFT's default targets for llama: q_proj, v_proj");
            Adapters.Lora q = lm.adapters().byModule.get("model.layers.0.self_attn.q_proj");
            float[] a = q.a().getArray().toFloatArray();
            double bound = 1 / Math.sqrt(16);
            double max = 0;
            double sumSq = 0;
            for (float v : a) {
                max = Math.max(max, Math.abs(v));
                sumSq += v * v;
            }
            assertTrue(max <= bound, "|A| ≤ 1/√in");
            assertEquals(bound * bound / 3, sumSq / a.length, 0.3 * bound * bound / 3, "variance of U(−b, b) is b²/3");
            for (float v : q.b().getArray().toFloatArray()) {
                assertEquals(0f, v);
            }
            assertEquals(2.0 * 4 * 2, lm.trainableParameters().size() * 2.0, "A and B of 4 modules");
            assertEquals(32.0 / 8, lm.adapters().scaling);
            assertEquals(32.0 / Math.sqrt(8), LoraConfig.defaults().withR(8).withUseRslora(true).scaling(), 1e-12);
        }
    }

    /** adapter_config.json and adapter_model.safetensors have PEFT's keys, names and shapes. */
    @Test
    void savedAsPeftWritesIt(@TempDir Path tmp) throws Exception {
        int r = 4;
        Path llama = base(tmp.resolve("llama"), CausalLMTest.tinyLlama(false));
        try (CausalLM lm = CausalLM.load(llama, FROZEN).addAdapters(LoraConfig.defaults().withR(r)
                .withTargetModules(List.of("all-linear")), 1)) {
            lm.saveAdapter(tmp.resolve("a-llama"));
        }
        Map<String, long[]> want = new LinkedHashMap<>();
        for (int l = 0; l < 2; l++) {
            String p = "base_model.model.model.layers." + l + ".";
            // hidden 16, 4 heads of 4, 2 KV heads (8), intermediate 24
            long[][] io = {{16, 16}, {16, 8}, {16, 8}, {16, 16}, {16, 24}, {16, 24}, {24, 16}};
            String[] names = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
                "mlp.up_proj", "mlp.down_proj"};
            for (int i = 0; i < names.length; i++) {
                want.put(p + names[i] + ".lora_A.weight", new long[] {r, io[i][0]});
                want.put(p + names[i] + ".lora_B.weight", new long[] {io[i][1], r});
            }
        }
        assertLayout(tmp.resolve("a-llama"), want);
        JsonNode cfg = new ObjectMapper().readTree(tmp.resolve("a-llama/adapter_config.json").toFile());
        assertEquals("LORA", cfg.get("peft_type").asText());
        assertEquals("CAUSAL_LM", cfg.get("task_type").asText());
        assertEquals(r, cfg.get("r").asInt());
        assertEquals(32, cfg.get("lora_alpha").asInt());
        assertTrue(cfg.get("lora_alpha").isInt(), "an integer alpha is written as PEFT writes it");
        assertEquals(0.05, cfg.get("lora_dropout").asDouble());
        assertEquals("none", cfg.get("bias").asText());
        assertFalse(cfg.get("fan_in_fan_out").asBoolean());
        assertFalse(cfg.get("use_rslora").asBoolean());
        assertTrue(cfg.get("inference_mode").asBoolean());
        assertEquals(llama.toString(), cfg.get("base_model_name_or_path").asText());
        List<String> targets = new ArrayList<>();
        cfg.get("target_modules").forEach(t -> targets.add(t.asText()));
        assertEquals(List.of("down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"), targets);

        Path gpt2 = base(tmp.resolve("gpt2"), CausalLMTest.tinyGpt2());
        try (CausalLM lm = CausalLM.load(gpt2, FROZEN).addAdapters(LoraConfig.defaults().withR(r)
                .withTargetModules(List.of("c_attn", "c_proj", "c_fc")), 1)) {
            lm.saveAdapter(tmp.resolve("a-gpt2"));
        }
        Map<String, long[]> g = new LinkedHashMap<>();
        for (int l = 0; l < 2; l++) {
            String p = "base_model.model.transformer.h." + l + ".";
            // Conv1D: PEFT's lora_A is still [r, in] and lora_B [out, r]; only the base weight is [in, out]
            g.put(p + "attn.c_attn.lora_A.weight", new long[] {r, 16});
            g.put(p + "attn.c_attn.lora_B.weight", new long[] {48, r});
            g.put(p + "attn.c_proj.lora_A.weight", new long[] {r, 16});
            g.put(p + "attn.c_proj.lora_B.weight", new long[] {16, r});
            g.put(p + "mlp.c_fc.lora_A.weight", new long[] {r, 16});
            g.put(p + "mlp.c_fc.lora_B.weight", new long[] {64, r});
            g.put(p + "mlp.c_proj.lora_A.weight", new long[] {r, 64});
            g.put(p + "mlp.c_proj.lora_B.weight", new long[] {16, r});
        }
        assertLayout(tmp.resolve("a-gpt2"), g);
        JsonNode gc = new ObjectMapper().readTree(tmp.resolve("a-gpt2/adapter_config.json").toFile());
        assertTrue(gc.get("fan_in_fan_out").asBoolean(), "GPT-2's Conv1D: fan_in_fan_out=true, as PEFT sets it");
    }

    static void assertLayout(Path dir, Map<String, long[]> want) {
        try (SafeTensors.Checkpoint ck = SafeTensors.open(dir.resolve("adapter_model.safetensors"))) {
            assertEquals(want.keySet(), ck.names());
            want.forEach((n, s) -> assertArrayEquals(s, ck.shapeOf(n), n));
        }
    }

    /** A saved adapter loads back onto a fresh base exactly; the merged checkpoint scores the same to 1e-5. */
    @Test
    void loadsBackAndMerges(@TempDir Path tmp) throws Exception {
        for (ModelConfig c : configs()) {
            String t = c.modelType();
            Path dir = base(tmp.resolve(t), c);
            float[] adapted;
            try (CausalLM lm = CausalLM.load(dir, FROZEN).addAdapters(LoraConfig.defaults().withR(4).withAlpha(8)
                    .withTargetModules(List.of("all-linear")), 1)) {
                randomizeB(lm, 9);
                adapted = logps(lm);
                lm.saveAdapter(tmp.resolve(t + "-adapter"));
                lm.saveMerged(tmp.resolve(t + "-merged"), null, null);
            }
            try (CausalLM lm = CausalLM.load(dir, FROZEN).loadAdapter(tmp.resolve(t + "-adapter"), false)) {
                assertArrayEquals(adapted, logps(lm), 0f, t + ": the adapter loads back exactly");
                assertTrue(lm.trainableParameters().isEmpty(), "an applied adapter is not trainable");
            }
            try (CausalLM merged = CausalLM.load(tmp.resolve(t + "-merged"), FROZEN)) {
                float[] got = logps(merged);
                for (int i = 0; i < got.length; i++) {
                    assertEquals(adapted[i], got[i], 1e-5 * Math.max(1, Math.abs(adapted[i])), t + " merged row " + i);
                }
                assertTrue(Files.isRegularFile(tmp.resolve(t + "-merged/config.json")));
            }
            // a merged float16 checkpoint: written as F16, within half precision of the adapted model
            try (CausalLM lm = CausalLM.load(dir, FROZEN).loadAdapter(tmp.resolve(t + "-adapter"), false)) {
                lm.saveMerged(tmp.resolve(t + "-merged16"), null, SafeTensors.DType.F16);
            }
            try (SafeTensors.Checkpoint ck = SafeTensors.open(tmp.resolve(t + "-merged16"))) {
                assertEquals(SafeTensors.DType.F16, ck.dominantDType());
            }
        }
    }

    @Test
    void refusesWhatItCannotApply(@TempDir Path tmp) throws Exception {
        Path dir = base(tmp.resolve("llama"), CausalLMTest.tinyLlama(false));
        try (CausalLM full = CausalLM.load(dir, new CausalLM.Options(Device.cpu(), true, DataType.FLOAT32))) {
            Align4jException e = assertThrows(Align4jException.class, () -> full.addAdapters(LoraConfig.defaults(), 1));
            assertTrue(e.getMessage().contains("frozen base"), e.getMessage());
        }
        try (CausalLM lm = CausalLM.load(dir, FROZEN)) {
            Align4jException e = assertThrows(Align4jException.class,
                    () -> lm.addAdapters(LoraConfig.defaults().withTargetModules(List.of("c_attn")), 1));
            assertTrue(e.getMessage().contains("'c_attn' matches no projection") && e.getMessage().contains("q_proj"),
                    e.getMessage());
        }
        Path gpt2 = base(tmp.resolve("gpt2"), CausalLMTest.tinyGpt2());
        try (CausalLM lm = CausalLM.load(gpt2, FROZEN).addAdapters(LoraConfig.defaults(), 1)) {
            lm.saveAdapter(tmp.resolve("g"));
        }
        try (CausalLM lm = CausalLM.load(dir, FROZEN)) {
            Align4jException e = assertThrows(Align4jException.class, () -> lm.loadAdapter(tmp.resolve("g"), false));
            assertTrue(e.getMessage().contains("c_attn"), "a GPT-2 adapter on a llama base: " + e.getMessage());
        }
        Path bad = Files.createDirectories(tmp.resolve("dora"));
        Files.writeString(bad.resolve("adapter_config.json"), "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,"
                + "\"target_modules\":[\"q_proj\"],\"use_dora\":true}");
        try (CausalLM lm = CausalLM.load(dir, FROZEN)) {
            Align4jException e = assertThrows(Align4jException.class, () -> lm.loadAdapter(bad, false));
            assertTrue(e.getMessage().contains("use_dora"), e.getMessage());
        }
    }

    @Test
    void rankMustBeAnIntegerInRangeNeverRounded(@TempDir Path tmp) throws Exception {
        String[][] cases = {
            {"4.9", "key 'r' must be an integer in [1, 65536], got 4.9"},
            {"4.0", "key 'r' must be an integer in [1, 65536], got 4.0"},
            {"\"4\"", "key 'r' must be an integer in [1, 65536], got a string"},
            {"0", "key 'r' is 0, out of range [1, 65536]"},
            {"4611686018427387904", "key 'r' is 4611686018427387904, out of range [1, 65536]"},
        };
        int i = 0;
        for (String[] c : cases) {
            Path d = Files.createDirectories(tmp.resolve("r" + i++));
            Files.writeString(d.resolve("adapter_config.json"), "{\"peft_type\":\"LORA\",\"r\":" + c[0]
                    + ",\"lora_alpha\":8,\"target_modules\":[\"q_proj\"]}");
            String m = assertThrows(Align4jException.class, () -> PeftAdapter.readConfig(d)).getMessage();
            assertEquals(d.resolve("adapter_config.json") + ": " + c[1], m);
        }
        Path ok = Files.createDirectories(tmp.resolve("ok"));
        Files.writeString(ok.resolve("adapter_config.json"), "{\"peft_type\":\"LORA\",\"r\":16,\"lora_alpha\":8,"
                + "\"target_modules\":[\"q_proj\"]}");
        assertEquals(16, PeftAdapter.readConfig(ok).r());
    }

    /**
     * Gradients reach A and B only (the frozen base gets none) and equal central finite differences of the
     * summed log-probs, for a llama-family and a GPT-2 (Conv1D) model.
     */
    @Test
    void gradientsMatchFiniteDifferences(@TempDir Path tmp) throws Exception {
        for (ModelConfig c : configs()) {
            Path dir = base(tmp.resolve(c.modelType()), c);
            try (CausalLM lm = CausalLM.load(dir, FROZEN).addAdapters(LoraConfig.defaults().withR(2).withAlpha(32).withDropout(0)
                    .withTargetModules(List.of("all-linear")), 4)) {
                randomizeB(lm, 5);
                Map<String, NDArray> params = lm.trainableParameters();
                Map<String, float[]> grads = new LinkedHashMap<>();
                try (NDManager m = lm.manager().newSubManager();
                        GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray loss = SequenceScorer.score(lm, m, ROWS, STARTS).logps().sum();
                    gc.backward(loss);
                    params.forEach((k, v) -> grads.put(k, v.getGradient().toFloatArray()));
                }
                for (NDArray w : lm.parameters().values()) {
                    assertFalse(w.hasGradient(), "the frozen base has no gradient");
                }
                Random r = new Random(11);
                int checked = 0;
                for (String name : params.keySet()) {
                    if (r.nextInt(3) != 0) {
                        continue;
                    }
                    NDArray p = params.get(name);
                    float[] v = p.toFloatArray();
                    int i = r.nextInt(v.length);
                    double h = 1e-3;
                    float keep = v[i];
                    v[i] = (float) (keep + h);
                    p.set(v);
                    double plus = sum(logps(lm));
                    v[i] = (float) (keep - h);
                    p.set(v);
                    double minus = sum(logps(lm));
                    v[i] = keep;
                    p.set(v);
                    double fd = (plus - minus) / (2 * h);
                    double g = grads.get(name)[i];
                    assertEquals(fd, g, 2e-3 + 2e-2 * Math.abs(fd), c.modelType() + " " + name + "[" + i + "]");
                    checked++;
                }
                assertTrue(checked >= 4, "checked " + checked);
            }
        }
    }

    private static double sum(float[] a) {
        double s = 0;
        for (float x : a) {
            s += x;
        }
        return s;
    }

    /** Dropout applies only in passes that build a graph, and draws the same masks for the same key. */
    @Test
    void dropoutOnlyWhileTrainingAndSeeded(@TempDir Path tmp) throws Exception {
        Path dir = base(tmp.resolve("llama"), CausalLMTest.tinyLlama(false));
        try (CausalLM lm = CausalLM.load(dir, FROZEN).addAdapters(LoraConfig.defaults().withDropout(0.5)
                .withTargetModules(List.of("all-linear")), 4)) {
            randomizeB(lm, 5);
            float[] eval = logps(lm);
            float[] a = trainingLogps(lm, 1);
            float[] b = trainingLogps(lm, 1);
            float[] c = trainingLogps(lm, 2);
            assertArrayEquals(a, b, 0f, "same key, same masks");
            assertFalse(java.util.Arrays.equals(a, c), "another key, other masks");
            assertFalse(java.util.Arrays.equals(a, eval), "dropout applies while training");
            assertArrayEquals(eval, logps(lm), 0f, "no dropout without a graph");
        }
    }

    private static float[] trainingLogps(CausalLM lm, long key) {
        lm.setDropoutKey(key);
        try (NDManager m = lm.manager().newSubManager(); GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            return SequenceScorer.score(lm, m, ROWS, STARTS).logps().toFloatArray();
        }
    }
}
