package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.Align4jException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Float16 weights on the CPU are storage only: a frozen model loaded as FLOAT16 holds float16 arrays
 * but computes every product in float32, so its log-probs equal, exactly, those of a float32 model
 * whose weights were rounded to float16 and widened back.
 */
class HalfPrecisionTest {
    private static final Options FP32 = new Options(false, DataType.FLOAT32);
    private static final Options FP16 = new Options(false, DataType.FLOAT16);

    @TempDir
    Path tmp;

    private record Options(boolean trainable, DataType type) {
        CausalLM.Options on(Device d) {
            return new CausalLM.Options(d, trainable, type);
        }
    }

    /**
     * A tiny model whose every tensor (norm weights and biases included, which init makes 1 and 0)
     * holds random values, written as {@code dtype}; with {@code roundedTo16} the F32 values are
     * first rounded to float16 (what the float16 load holds).
     */
    static Path model(Path dir, String type, SafeTensors.DType dtype, long seed) throws Exception {
        Map<String, Object> cfg = type.equals("gpt2")
                ? Map.of("n_embd", 32, "n_layer", 2, "n_positions", 64)
                : Map.of("hidden_size", 32, "num_hidden_layers", 2, "num_key_value_heads", 2, "intermediate_size", 48);
        CausalLM.init(type, cfg, null, dir, 1);
        Random r = new Random(seed);
        List<SafeTensors.Entry> entries = new ArrayList<>();
        try (SafeTensors.Checkpoint c = SafeTensors.open(dir)) {
            for (String name : c.names()) {
                long[] shape = c.shapeOf(name);
                int n = Math.toIntExact(new Shape(shape).size());
                ByteBuffer b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
                boolean norm = RandomWeights.isNorm(name) && name.endsWith(".weight");
                for (int i = 0; i < n; i++) {
                    b.putFloat((float) ((norm ? 1 : 0) + r.nextGaussian() * (norm ? 0.1 : 0.08)));
                }
                entries.add(new SafeTensors.Entry(name, shape, b::flip));
            }
        }
        SafeTensors.write(dir, entries, dtype, Long.MAX_VALUE);
        return dir;
    }

    /** The same tensors written again as {@code dtype} into a new folder with the same config.json. */
    static Path rewrite(Path from, Path to, SafeTensors.DType dtype) throws Exception {
        Files.createDirectories(to);
        Files.copy(from.resolve("config.json"), to.resolve("config.json"));
        List<SafeTensors.Entry> entries = new ArrayList<>();
        try (SafeTensors.Checkpoint c = SafeTensors.open(from)) {
            for (String name : c.names()) {
                ByteBuffer f32 = c.get(name).asFloat32();
                ByteBuffer copy = ByteBuffer.allocate(f32.remaining()).order(ByteOrder.LITTLE_ENDIAN).put(f32.duplicate());
                entries.add(new SafeTensors.Entry(name, c.shapeOf(name), copy::flip));
            }
            SafeTensors.write(to, entries, dtype, Long.MAX_VALUE);
        }
        return to;
    }

    static float[] score(Path dir, Options o) {
        try (CausalLM lm = CausalLM.load(dir, o.on(Device.cpu())); NDManager m = lm.manager().newSubManager()) {
            int[][] rows = CausalLMTest.randomRows(new Random(5), new int[] {11, 7, 16});
            for (int[] row : rows) {
                for (int i = 0; i < row.length; i++) {
                    row[i] = (row[i] * 15) % lm.config().vocabSize(); // spread over the 794-token vocabulary
                }
            }
            return SequenceScorer.score(lm, m, rows, new int[] {4, 1, 9}).logps().toFloatArray();
        }
    }

    /**
     * Storage only: FLOAT16 equals float32 with the weights rounded to float16 bit for bit (same
     * float32 products, the float16 weights widened exactly), and differs from the unrounded float32
     * model by the rounding alone: float16 keeps 11 significant bits, so each weight moves by at most
     * 2⁻¹¹ ≈ 4.9e-4 of itself (about 1.4e-4 on average); to first order a sequence's log-prob moves by
     * at most that fraction of Σ|w·∂logp/∂w|, and the errors of thousands of weights mostly cancel.
     * We allow 1e-3 relative, twice the worst single-weight bound; measured: 3.6e-5 (llama), 2.2e-5 (gpt2).
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void float16IsStorageOnly(String type) throws Exception {
        Path f32 = model(tmp.resolve("f32"), type, SafeTensors.DType.F32, 11);
        Path rounded = rewrite(f32, tmp.resolve("rounded"), SafeTensors.DType.F16); // F16 file, loaded as float32 below
        float[] exact = score(f32, FP32);
        float[] half = score(f32, FP16);
        float[] widened = score(rounded, FP32);
        assertArrayEquals(widened, half, 0f, "float16 storage = float32 compute on float16-rounded weights");
        assertArrayEquals(half, score(rounded, FP16), 0f, "an F16 file loads to the same float16 weights");
        double worst = 0;
        for (int i = 0; i < exact.length; i++) {
            double rel = Math.abs(half[i] - exact[i]) / Math.abs(exact[i]);
            assertTrue(rel <= 1e-3, type + " row " + i + ": " + half[i] + " vs " + exact[i]);
            worst = Math.max(worst, rel);
        }
        assertTrue(worst > 0, "the weights were rounded: float16 must differ from float32 somewhere");
    }

    /** Weights are held as float16, activations, hidden states and logits come out float32. */
    @Test
    void frozenFloat16HoldsHalfWeightsAndComputesInFloat32() throws Exception {
        Path dir = model(tmp.resolve("m"), "gpt2", SafeTensors.DType.BF16, 3);
        try (CausalLM lm = CausalLM.load(dir, FP16.on(Device.cpu())); NDManager m = lm.manager().newSubManager();
                CausalLM fp32 = CausalLM.load(dir, FP32.on(Device.cpu()))) {
            assertEquals(DataType.FLOAT16, lm.weightType());
            assertEquals(DataType.FLOAT32, lm.computeType());
            for (NDArray a : lm.parameters().values()) {
                assertEquals(DataType.FLOAT16, a.getDataType());
            }
            assertEquals(lm.parameters().size(), lm.liveArrays(), "one array per weight: no float32 copy left behind");
            assertEquals(fp32.liveArrays(), lm.liveArrays());
            NDArray ids = m.create(new long[] {1, 2, 3, 4}, new Shape(1, 4));
            assertEquals(DataType.FLOAT32, lm.hidden(ids, null).getDataType());
            assertEquals(DataType.FLOAT32, lm.logits(ids).getDataType());
        }
    }

    /** A head held in float16 is converted in slices of whole rows; the logits equal the whole head's. */
    @Test
    void headInSlicesEqualsTheWholeHead() throws Exception {
        Path dir = model(tmp.resolve("m"), "llama", SafeTensors.DType.F32, 4);
        long saved = Decoder.headChunkElements;
        try (CausalLM lm = CausalLM.load(dir, FP16.on(Device.cpu())); NDManager m = lm.manager().newSubManager()) {
            NDArray h = lm.hidden(m.create(new long[] {5, 9, 200, 3, 77, 1}, new Shape(2, 3)), null);
            float[] whole = lm.head(h).toFloatArray();
            Decoder.headChunkElements = 32 * 7; // 7 of 794 rows a slice: 114 slices, the last one 3 rows
            float[] sliced = lm.head(h).toFloatArray();
            assertEquals(2 * 3 * 794, sliced.length);
            assertArrayEquals(whole, sliced, 1e-6f);
        } finally {
            Decoder.headChunkElements = saved;
        }
    }

    /**
     * LoRA on a float16 base: the adapters' gradients equal those on the float32 base with rounded
     * weights, bit for bit (the backward runs through the same float32 products); with the head
     * applied in slices, to 1e-5 in norm per tensor (the hidden state's gradient sums the slices' parts in
     * another order, float32 rounding that the layers below amplify in single elements).
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void loraGradientsOnAFloat16BaseAreThoseOfTheRoundedFloat32Base(String type) throws Exception {
        Path f32 = model(tmp.resolve("f32"), type, SafeTensors.DType.F32, 12);
        Path rounded = rewrite(f32, tmp.resolve("rounded"), SafeTensors.DType.F16);
        Map<String, float[]> half = loraGradients(f32, FP16);
        Map<String, float[]> widened = loraGradients(rounded, FP32);
        assertEquals(widened.keySet(), half.keySet());
        for (String k : half.keySet()) {
            assertArrayEquals(widened.get(k), half.get(k), 0f, k);
        }
        long saved = Decoder.headChunkElements;
        try {
            Decoder.headChunkElements = 32 * 100;
            Map<String, float[]> sliced = loraGradients(f32, FP16);
            for (String k : half.keySet()) {
                float[] want = half.get(k);
                float[] got = sliced.get(k);
                double diff = 0;
                double norm = 0;
                for (int i = 0; i < want.length; i++) {
                    diff += (double) (want[i] - got[i]) * (want[i] - got[i]);
                    norm += (double) want[i] * want[i];
                }
                assertTrue(norm > 0 && Math.sqrt(diff / norm) <= 1e-5, k + ": relative error " + Math.sqrt(diff / norm));
            }
        } finally {
            Decoder.headChunkElements = saved;
        }
    }

    /** d(Σ log-probs)/d(adapter) for all-linear LoRA with B set to fixed random values (so A gets a gradient too). */
    private static Map<String, float[]> loraGradients(Path dir, Options o) {
        Map<String, float[]> out = new java.util.TreeMap<>();
        try (CausalLM lm = CausalLM.load(dir, o.on(Device.cpu()))
                .addAdapters(LoraConfig.defaults().withTargetModules(List.of("all-linear")).withDropout(0), 7);
                NDManager m = lm.manager().newSubManager()) {
            Random r = new Random(3);
            for (Map.Entry<String, NDArray> e : lm.trainableParameters().entrySet()) {
                if (e.getKey().contains("lora_B")) {
                    float[] v = new float[Math.toIntExact(e.getValue().size())];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) (r.nextGaussian() * 0.05);
                    }
                    e.getValue().set(v);
                }
            }
            int[][] rows = CausalLMTest.randomRows(new Random(5), new int[] {11, 16});
            try (ai.djl.training.GradientCollector gc = ai.djl.engine.Engine.getInstance().newGradientCollector()) {
                NDArray loss = SequenceScorer.score(lm, m, rows, new int[] {4, 9}).logps().sum();
                gc.backward(loss);
            }
            lm.trainableParameters().forEach((k, a) -> out.put(k, a.getGradient().toFloatArray()));
        }
        return out;
    }

    @Test
    void trainableFloat16AndBfloat16AreRefused() throws Exception {
        Path dir = model(tmp.resolve("m"), "llama", SafeTensors.DType.F32, 4);
        Align4jException e = assertThrows(Align4jException.class,
                () -> CausalLM.load(dir, new CausalLM.Options(Device.cpu(), true, DataType.FLOAT16)));
        assertTrue(e.getMessage().contains("full fine-tuning in float16 is not supported")
                && e.getMessage().contains("use_peft: true with torch_dtype: float16"), e.getMessage());
        e = assertThrows(Align4jException.class,
                () -> CausalLM.load(dir, new CausalLM.Options(Device.cpu(), false, DataType.BFLOAT16)));
        assertTrue(e.getMessage().contains("cannot hold bfloat16"), e.getMessage());
    }

    /** BF16 → F16 while loading: exact in float16's normal range; beyond ±65504 refused by name. */
    @Test
    void bf16ConvertsToF16AndOutOfRangeValuesAreRefused() {
        float[] vals = {1.5f, -0.0f, 3.140625f, 1e-3f, 60000f, -2.5e-5f};
        ByteBuffer b = ByteBuffer.allocate(vals.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : vals) {
            b.putShort(SafeTensorsWriter.bf16(v));
        }
        ByteBuffer out = WeightLoader.convert(b.flip(), vals.length, SafeTensors.DType.BF16, DataType.FLOAT16,
                Path.of("w.safetensors"), "t");
        for (int i = 0; i < vals.length; i++) {
            float bf = Float.intBitsToFloat((SafeTensorsWriter.bf16(vals[i]) & 0xffff) << 16);
            float h = Float.intBitsToFloat(SafeTensors.halfToFloatBits(out.getShort(2 * i)));
            assertEquals(SafeTensorsWriter.f16(bf), out.getShort(2 * i), "element " + i);
            if (Math.abs(bf) >= 0x1p-14f || bf == 0) {
                assertEquals(bf, h, 0f, "normal-range BF16 values are float16 values: element " + i);
            }
        }
        ByteBuffer big = ByteBuffer.allocate(6).order(ByteOrder.LITTLE_ENDIAN);
        big.putShort(SafeTensorsWriter.bf16(1f)).putShort(SafeTensorsWriter.bf16(1e5f)).putShort((short) 0).flip();
        Align4jException e = assertThrows(Align4jException.class, () -> WeightLoader.convert(big, 3,
                SafeTensors.DType.BF16, DataType.FLOAT16, Path.of("w.safetensors"), "model.norm.weight"));
        assertTrue(e.getMessage().contains("'model.norm.weight' holds 99840.0 at element 1")
                && e.getMessage().contains("float16's range") && e.getMessage().contains("float32"), e.getMessage());
        ByteBuffer nan = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putShort((short) 0x7fc0).flip(); // room to widen
        e = assertThrows(Align4jException.class, () -> WeightLoader.convert(nan, 1, SafeTensors.DType.BF16,
                DataType.FLOAT32, Path.of("w.safetensors"), "x"));
        assertTrue(e.getMessage().contains("holds NaN at element 0"), e.getMessage());
    }

    /** Widening in place, last element first, equals element-by-element widening; F32 → F16 in place rounds. */
    @Test
    void inPlaceConversionsMatchElementwise() {
        Random r = new Random(2);
        int n = 1001;
        short[] halves = new short[n];
        ByteBuffer b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            halves[i] = SafeTensorsWriter.f16((float) r.nextGaussian());
            b.putShort(2 * i, halves[i]);
        }
        ByteBuffer f = WeightLoader.convert(b, n, SafeTensors.DType.F16, DataType.FLOAT32, Path.of("x"), "x");
        for (int i = 0; i < n; i++) {
            assertEquals(SafeTensors.halfToFloatBits(halves[i]), f.getInt(4 * i), "element " + i);
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
            b.putFloat(4 * i, v[i]);
        }
        ByteBuffer h = WeightLoader.convert(b, n, SafeTensors.DType.F32, DataType.FLOAT16, Path.of("x"), "x");
        assertEquals(2 * n, h.remaining());
        for (int i = 0; i < n; i++) {
            assertEquals(SafeTensorsWriter.f16(v[i]), h.getShort(2 * i), "element " + i);
        }
    }

    /** Log-probs of rows short enough (7 and 5 tokens, one at a time) that each product converts fewer activation values than weights. */
    static float[] scoreFew(Path dir, Options o) {
        float[] a = score1(dir, o, 7);
        float[] b = score1(dir, o, 5);
        return new float[] {a[0], b[0]};
    }

    static float[] score1(Path dir, Options o, int length) {
        try (CausalLM lm = CausalLM.load(dir, o.on(Device.cpu())); NDManager m = lm.manager().newSubManager()) {
            int[] row = new int[length];
            for (int i = 0; i < length; i++) {
                row[i] = (i * 37 + 11) % lm.config().vocabSize();
            }
            return SequenceScorer.score(lm, m, new int[][] {row}, new int[] {2}).logps().toFloatArray();
        }
    }

    /**
     * Where a machine's float16 GEMM is faster ({@code HalfProducts}), a frozen float16 model's no-grad products
     * with fewer activation values than weight values (a few short rows) run in float16: x rounded to float16 (2⁻¹¹ relative), float32 accumulation, the product rounded to float16
     * again. Its log-probs then move from the widened path's by those roundings only: we allow 2e-3 relative
     * (measured: 2.0e-5 llama, 5.9e-6 gpt2, on this Intel Xeon); a pass with a gradient never takes the float16 path.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void float16ProductsWithoutAGradientStayCloseToWidenedOnes(String type) throws Exception {
        Path f32 = model(tmp.resolve("f32"), type, SafeTensors.DType.F32, 11);
        float[] widened = scoreFew(f32, FP16);
        io.github.align4j.model.internal.HalfProducts.set(new io.github.align4j.model.internal.HalfProducts.Decision(true, "test"));
        try {
            float[] half = scoreFew(f32, FP16);
            double worst = 0;
            for (int i = 0; i < half.length; i++) {
                double rel = Math.abs(half[i] - widened[i]) / Math.abs(widened[i]);
                assertTrue(rel <= 2e-3, type + " row " + i + ": " + half[i] + " vs " + widened[i]);
                worst = Math.max(worst, rel);
            }
            assertTrue(worst > 0, "the float16 path ran: its roundings must show somewhere");
            float[] many = score1(f32, FP16, 40);
            io.github.align4j.model.internal.HalfProducts.set(new io.github.align4j.model.internal.HalfProducts.Decision(false, "test"));
            assertArrayEquals(score1(f32, FP16, 40), many, 0f,
                    "40 tokens of a 32-wide model hold more activation values than weight values: the weights are widened");
        } finally {
            io.github.align4j.model.internal.HalfProducts.set(null);
        }
    }
}
