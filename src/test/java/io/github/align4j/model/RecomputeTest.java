package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Scalars;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gradient checkpointing (activation recomputation): with it on, every trainable weight gets the
 * gradient the plain backward gives (to 1e-6 relative, fp32), the loss is the same, LoRA dropout
 * draws the same masks when a layer is recomputed, several passes before one backward are all
 * replayed, and nothing is left behind after a step.
 */
class RecomputeTest {
    static {
        Offline.ensure();
    }

    private static final Map<String, Object> LLAMA = Map.of("hidden_size", 16, "intermediate_size", 24,
            "num_hidden_layers", 3, "num_attention_heads", 4, "num_key_value_heads", 2);
    private static final Map<String, Object> GPT2 = Map.of("n_embd", 16, "n_layer", 3, "n_head", 4, "n_positions", 32);

    private static ModelConfig llama() throws Exception {
        return ModelConfig.parse((ObjectNode) new ObjectMapper().readTree("{\"model_type\":\"llama\",\"vocab_size\":60,"
                + "\"hidden_size\":16,\"intermediate_size\":24,\"num_hidden_layers\":3,\"num_attention_heads\":4,"
                + "\"num_key_value_heads\":2,\"tie_word_embeddings\":false}"), "test");
    }

    private static ModelConfig gpt2() throws Exception {
        return ModelConfig.parse((ObjectNode) new ObjectMapper().readTree("{\"model_type\":\"gpt2\",\"vocab_size\":60,"
                + "\"n_embd\":16,\"n_layer\":3,\"n_head\":4,\"n_positions\":32}"), "test");
    }

    private record Run(float loss, Map<String, float[]> grads, int pending) {}

    /**
     * Two passes (as KTO or separate chosen/rejected passes would run), one loss over both, one
     * backward; the trainable weights' gradients afterwards.
     */
    private static Run run(CausalLM lm, boolean checkpointing) {
        return run(lm, checkpointing, 12345);
    }

    private static Run run(CausalLM lm, boolean checkpointing, long dropoutKey) {
        lm.gradientCheckpointing(checkpointing);
        lm.setDropoutKey(dropoutKey);
        Random r = new Random(3);
        int[][] first = CausalLMTest.randomRows(r, new int[] {11, 6, 9});
        int[][] second = CausalLMTest.randomRows(r, new int[] {7, 12});
        float loss;
        int pending;
        try (NDManager m = lm.manager().newSubManager();
                GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray a = SequenceScorer.score(lm, m, first, new int[] {4, 2, 5}).logps();
            NDArray b = SequenceScorer.score(lm, m, second, new int[] {3, 6}).logps();
            NDArray l = Scalars.times(b, 0.5).sum().sub(a.sum());
            pending = lm.pendingRecomputations();
            lm.backward(l);
            assertEquals(0, lm.pendingRecomputations(), "every pass replayed");
            loss = l.getFloat();
        }
        Map<String, float[]> grads = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : lm.trainableParameters().entrySet()) {
            try (NDArray g = e.getValue().getGradient()) {
                grads.put(e.getKey(), g.toFloatArray());
            }
        }
        return new Run(loss, grads, pending);
    }

    @Test
    void fullFineTuningGradientsEqualThePlainBackward() throws Exception {
        for (ModelConfig c : new ModelConfig[] {llama(), gpt2()}) {
            Run plain;
            Run recomputed;
            try (CausalLM lm = CausalLM.init(c, 7, CausalLM.Options.training().withDevice(Device.cpu()))) {
                plain = run(lm, false);
            }
            try (CausalLM lm = CausalLM.init(c, 7, CausalLM.Options.training().withDevice(Device.cpu()))) {
                recomputed = run(lm, true);
            }
            assertEquals(0, plain.pending());
            assertEquals(2, recomputed.pending(), "both passes were checkpointed");
            assertEquals(plain.loss(), recomputed.loss(), 0f, c.modelType());
            int nonZero = GradientsClose.compare(plain.grads(), recomputed.grads(), 1e-6, c.modelType());
            // every weight takes part (the embedding through the gradient that reaches layer 0's input)
            assertEquals(plain.grads().size(), nonZero, c.modelType());
        }
    }

    @Test
    void loraGradientsEqualThePlainBackwardWithDropoutReplayed(@TempDir Path tmp) {
        for (String type : List.of("llama", "gpt2")) {
            Path dir = tmp.resolve(type);
            CausalLM.init(type, type.equals("llama") ? LLAMA : GPT2, null, dir, 5);
            Run[] runs = new Run[2];
            for (int k = 0; k < 2; k++) {
                try (CausalLM lm = CausalLM.load(dir, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32))
                        .addAdapters(LoraConfig.defaults().withDropout(0.1).withTargetModules(List.of("all-linear")), 7)) {
                    randomizeB(lm); // B = 0 at init would make every A gradient 0
                    runs[k] = run(lm, k == 1);
                }
            }
            assertEquals(2, runs[1].pending(), type);
            assertEquals(runs[0].loss(), runs[1].loss(), 0f, type);
            int nonZero = GradientsClose.compare(runs[0].grads(), runs[1].grads(), 1e-6, type + " lora");
            assertEquals(runs[0].grads().size(), nonZero, type);
        }
    }

    /** The masks matter: another dropout key gives other gradients, so the equality above is not vacuous. */
    @Test
    void anotherDropoutKeyGivesOtherGradients(@TempDir Path tmp) {
        CausalLM.init("llama", LLAMA, null, tmp, 5);
        Map<String, float[]>[] grads = new Map[2];
        for (int k = 0; k < 2; k++) {
            try (CausalLM lm = CausalLM.load(tmp, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32))
                    .addAdapters(LoraConfig.defaults().withDropout(0.1).withTargetModules(List.of("all-linear")), 7)) {
                randomizeB(lm);
                grads[k] = run(lm, true, k == 0 ? 12345 : 999).grads();
            }
        }
        String q = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
        float[] a = grads[0].get(q);
        float[] b = grads[1].get(q);
        double diff = 0;
        for (int i = 0; i < a.length; i++) {
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
        }
        assertTrue(diff > 1e-4, "max diff " + diff);
    }

    private static void randomizeB(CausalLM lm) {
        Random r = new Random(11);
        for (Map.Entry<String, NDArray> e : lm.trainableParameters().entrySet()) {
            if (e.getKey().endsWith("lora_B.weight")) {
                NDArray b = e.getValue();
                float[] v = new float[Math.toIntExact(b.size())];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (r.nextGaussian() * 0.1);
                }
                b.set(v);
            }
        }
    }

    @Test
    void passesWithoutGradModeOrTrainableLayersAreNotCheckpointed() throws Exception {
        try (CausalLM lm = CausalLM.init(llama(), 7, CausalLM.Options.training().withDevice(Device.cpu()))
                .gradientCheckpointing(true);
                CausalLM frozen = CausalLM.init(llama(), 7, CausalLM.Options.inference().withDevice(Device.cpu()))
                .gradientCheckpointing(true);
                NDManager m = lm.manager().newSubManager()) {
            int[][] rows = CausalLMTest.randomRows(new Random(1), new int[] {5, 8});
            SequenceScorer.score(lm, m, rows, new int[] {2, 3}); // no collector: no graph
            assertEquals(0, lm.pendingRecomputations());
            try (NDManager fm = frozen.manager().newSubManager();
                    GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                SequenceScorer.score(frozen, fm, rows, new int[] {2, 3}); // grad mode, but nothing to train
                assertEquals(0, frozen.pendingRecomputations());
            }
        }
    }

    @Test
    void nativeArraysStayFlatOverCheckpointedSteps() throws Exception {
        try (CausalLM lm = CausalLM.init(gpt2(), 7, CausalLM.Options.training().withDevice(Device.cpu()))
                .gradientCheckpointing(true)) {
            Random r = new Random(4);
            // a step that ends without its backward (an error after the forward): its saved inputs go with its manager
            try (NDManager m = lm.manager().newSubManager(); GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                SequenceScorer.score(lm, m, CausalLMTest.randomRows(r, new int[] {6, 9}), new int[] {2, 3});
                assertEquals(1, lm.pendingRecomputations());
            }
            assertEquals(0, lm.pendingRecomputations(), "a pass whose step ended is forgotten");
            List<Integer> live = new ArrayList<>();
            for (int step = 0; step < 5; step++) {
                try (NDManager m = lm.manager().newSubManager(); NDScope scope = new NDScope();
                        GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray a = SequenceScorer.score(lm, m, CausalLMTest.randomRows(r, new int[] {6, 9}), new int[] {2, 3}).logps();
                    NDArray b = SequenceScorer.score(lm, m, CausalLMTest.randomRows(r, new int[] {8}), new int[] {4}).logps();
                    lm.backward(a.sum().add(b.sum()).neg());
                }
                for (NDArray p : lm.parameters().values()) { // zero the gradients, as the optimizer step does
                    try (NDArray g = p.getGradient()) {
                        g.subi(g);
                    }
                }
                live.add(lm.liveArrays());
            }
            assertEquals(List.of(live.get(0), live.get(0), live.get(0), live.get(0), live.get(0)), live);
        }
    }
}
