package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import io.github.align4j.internal.Offline;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The head in row blocks ({@link SequenceScorer#headTerms}) scores exactly what the one product scores: log-probs,
 * logit means and WPO's aligned means to float rounding, and the adapters' gradients through them; a trainable head
 * keeps one product while it trains, and a pass without a graph uses blocks.
 */
class HeadBlocksTest {
    static {
        Offline.ensure();
    }

    private final long bytes = SequenceScorer.headBlockBytes;
    private final long minRows = SequenceScorer.minBlockRows;

    @AfterEach
    void restore() {
        SequenceScorer.headBlockBytes = bytes;
        SequenceScorer.minBlockRows = minRows;
    }

    /** Blocks of {@code rows} rows (0: one product). */
    private static void blocksOf(ModelConfig c, long rows) {
        SequenceScorer.minBlockRows = 1;
        SequenceScorer.headBlockBytes = rows == 0 ? Long.MAX_VALUE / 2 : rows * c.vocabSize() * 4;
    }

    /** log-probs, logit sums, aligned means, then every trainable weight's gradient, flattened; and the blocks run. */
    private static List<float[]> scoreAndGrad(CausalLM lm, boolean train) {
        List<float[]> out = new ArrayList<>();
        long before = SequenceScorer.BLOCKS.get();
        try (NDManager m = lm.manager().newSubManager()) {
            if (train) {
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    SequenceScorer.Scores s = SequenceScorer.score(lm, m, LoraTest.ROWS, LoraTest.STARTS,
                            new SequenceScorer.Options(null, 1, true));
                    out.add(s.logps().toFloatArray());
                    out.add(s.logitSums().toFloatArray());
                    out.add(s.alignedMeans().toFloatArray());
                    NDArray w = m.create(new float[] {1f, -2f, 0.5f});
                    gc.backward(s.logps().mul(w).sum());
                }
                for (Map.Entry<String, NDArray> e : lm.trainableParameters().entrySet()) {
                    try (NDArray g = e.getValue().getGradient()) {
                        out.add(g.toFloatArray());
                        g.muli(0); // gradients accumulate: the next call starts from zero
                    }
                }
            } else {
                SequenceScorer.Scores s = SequenceScorer.score(lm, m, LoraTest.ROWS, LoraTest.STARTS);
                out.add(s.logps().toFloatArray());
                out.add(s.logitSums().toFloatArray());
            }
        }
        out.add(new float[] {SequenceScorer.BLOCKS.get() - before});
        return out;
    }

    private static void assertClose(List<float[]> want, List<float[]> got, String what) {
        assertEquals(want.size(), got.size());
        for (int k = 0; k < want.size() - 1; k++) {
            float[] a = want.get(k);
            float[] b = got.get(k);
            assertEquals(a.length, b.length);
            double scale = 0;
            for (float x : a) {
                scale = Math.max(scale, Math.abs(x));
            }
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], 1e-5 * Math.max(1, scale), what + ": term " + k + " value " + i);
            }
        }
    }

    @Test
    void blocksScoreAndDifferentiateLikeOneProduct(@TempDir Path tmp) throws Exception {
        ModelConfig c = CausalLMTest.tinyLlama(false);
        Path dir = LoraTest.base(tmp.resolve("llama"), c);
        try (CausalLM lm = CausalLM.load(dir, LoraTest.FROZEN).addAdapters(LoraConfig.defaults().withDropout(0)
                .withTargetModules(List.of("all-linear")), 4)) {
            LoraTest.randomizeB(lm, 5);
            blocksOf(c, 0);
            List<float[]> one = scoreAndGrad(lm, true);
            assertEquals(0f, one.get(one.size() - 1)[0], "one product");
            blocksOf(c, 5); // 17 completion positions: blocks of 5, 5, 5 and 2 rows
            List<float[]> blocks = scoreAndGrad(lm, true);
            assertEquals(4f, blocks.get(blocks.size() - 1)[0], "four blocks");
            assertClose(one, blocks, "LoRA, training");
            assertTrue(one.size() > 5, "the adapters' gradients were compared");
            try (CausalLM.AdaptersOff off = lm.adaptersDisabled()) { // the reference: no graph
                blocksOf(c, 0);
                List<float[]> ref = scoreAndGrad(lm, false);
                blocksOf(c, 5);
                List<float[]> refBlocks = scoreAndGrad(lm, false);
                assertEquals(4f, refBlocks.get(refBlocks.size() - 1)[0]);
                assertClose(ref, refBlocks, "reference");
            }
        }
    }

    @Test
    void aSmallFloat16HeadIsWidenedOnceForItsBlocks(@TempDir Path tmp) throws Exception {
        ModelConfig c = CausalLMTest.tinyLlama(false);
        Path dir = LoraTest.base(tmp.resolve("llama"), c);
        try (CausalLM lm = CausalLM.load(dir, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT16))
                .addAdapters(LoraConfig.defaults().withDropout(0).withTargetModules(List.of("all-linear")), 4)) {
            LoraTest.randomizeB(lm, 5);
            blocksOf(c, 0);
            List<float[]> one = scoreAndGrad(lm, true);
            blocksOf(c, 5);
            List<float[]> blocks = scoreAndGrad(lm, true);
            assertEquals(4f, blocks.get(blocks.size() - 1)[0], "four blocks over the widened head");
            assertClose(one, blocks, "float16 base");
            long saved = Decoder.headChunkElements;
            try {
                Decoder.headChunkElements = 16; // a head too large to widen at once: slices of the vocabulary, one product
                List<float[]> sliced = scoreAndGrad(lm, true);
                assertEquals(0f, sliced.get(sliced.size() - 1)[0], "one product");
                assertClose(one, sliced, "float16 base, vocabulary slices");
            } finally {
                Decoder.headChunkElements = saved;
            }
        }
    }

    @Test
    void aTrainableHeadKeepsOneProductWhileItTrains(@TempDir Path tmp) throws Exception {
        ModelConfig c = CausalLMTest.tinyLlama(false);
        Path dir = LoraTest.base(tmp.resolve("llama"), c);
        try (CausalLM lm = CausalLM.load(dir, new CausalLM.Options(Device.cpu(), true, DataType.FLOAT32))) {
            blocksOf(c, 5);
            List<float[]> train = scoreAndGrad(lm, true);
            assertEquals(0f, train.get(train.size() - 1)[0], "the head's weight gradient stays one product");
            List<float[]> eval = scoreAndGrad(lm, false);
            assertEquals(4f, eval.get(eval.size() - 1)[0], "without a graph, blocks");
            assertClose(List.of(train.get(0), new float[0]), List.of(eval.get(0), new float[0]), "same log-probs");
        }
    }
}
