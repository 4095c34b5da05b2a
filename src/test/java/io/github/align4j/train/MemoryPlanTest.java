package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.internal.FusedAttentionSwitch;
import io.github.align4j.train.internal.MemoryModel;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The memory planner's arithmetic on configs small enough to count by hand (the numbers in the
 * comments), its weight and adapter counts against the models align4j builds, the fits logic and
 * the suggestions.
 */
class MemoryPlanTest {
    /** E=8, I=16, 2 layers, 2 heads of 4, 1 KV head, vocabulary 1000, untied head. */
    static ModelConfig tiny() {
        return config(Map.of("model_type", "llama", "hidden_size", 8, "intermediate_size", 16, "num_hidden_layers", 2,
                "num_attention_heads", 2, "num_key_value_heads", 1, "vocab_size", 1000, "max_position_embeddings", 64,
                "tie_word_embeddings", false));
    }

    static ModelConfig config(Map<String, Object> keys) {
        ObjectNode n = new ObjectMapper().valueToTree(keys);
        return ModelConfig.parse(n, "test");
    }

    static final long OVERHEAD = 240L << 20;

    /** The hand counts below lay out one row a sequence; {@link #sharedPromptPacksAPairIntoOneRow} counts the other layout. */
    @org.junit.jupiter.api.BeforeEach
    void oneRowASequence() {
        System.setProperty(io.github.align4j.model.internal.PromptSharing.PROPERTY, "off");
    }

    @org.junit.jupiter.api.AfterEach
    void restoreSharing() {
        System.clearProperty(io.github.align4j.model.internal.PromptSharing.PROPERTY);
    }

    /**
     * A pair of 1 prompt + 3 completion tokens scored as one row [prompt | chosen | rejected] of 7 tokens (less
     * work for this model: SequenceScorer's choice): per layer, 7 positions: input 56, q 56, k+v 56, probs
     * 2·7² = 98, mid 56, MLP 4·7·16 = 448, RMSNorm outputs 112, projection inputs 56+56+56+112 = 280 elements;
     * two layers 2,324 + final norm 112 + the row's mask 7² = 49: 2,485 floats. The head's terms are the same
     * 6 scored positions.
     */
    @Test
    void sharedPromptPacksAPairIntoOneRow() {
        System.setProperty(io.github.align4j.model.internal.PromptSharing.PROPERTY, "auto");
        MemoryPlan p = MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).availableBytes(-1).build();
        assertEquals(2_485L * 4, p.breakdown().activations());
        assertEquals(3 * 6 * 1000 * 4 + 6 * 8 * 4, p.breakdown().logits());
    }

    @Test
    void weightsAreCountedByHand() {
        // embed 1000·8 + 2 × (norms 16 + q 64 + k 32 + v 32 + o 64 + gate 128 + up 128 + down 128) + norm 8 + head 8000
        assertEquals(17_192, MemoryModel.parameters(tiny()));
        // GPT-2, E=8, inner 32, 16 positions, tied: wte 80 + wpe 128 + 2 × (ln 16 + c_attn 192+24 + c_proj 64+8
        // + ln 16 + c_fc 256+32 + c_proj 256+8) + ln_f 16
        ModelConfig g = config(Map.of("model_type", "gpt2", "n_embd", 8, "n_layer", 2, "n_head", 2, "vocab_size", 10,
                "n_positions", 16));
        assertEquals(1_968, MemoryModel.parameters(g));
    }

    @Test
    void weightsAndAdaptersMatchTheModelsAlign4jBuilds() {
        List<ModelConfig> configs = List.of(tiny(),
                config(Map.of("model_type", "qwen2", "hidden_size", 16, "intermediate_size", 24, "num_hidden_layers", 3,
                        "num_attention_heads", 4, "num_key_value_heads", 2, "vocab_size", 50, "max_position_embeddings", 32,
                        "tie_word_embeddings", true)),
                config(Map.of("model_type", "gpt2", "n_embd", 12, "n_layer", 2, "n_head", 3, "vocab_size", 20, "n_positions", 16)));
        for (ModelConfig c : configs) {
            for (List<String> targets : List.of(List.<String>of(), List.of("all-linear"), List.of("c_proj", "o_proj", "down_proj"))) {
                if (!c.isGpt2() && targets.equals(List.of("c_proj", "o_proj", "down_proj"))) {
                    targets = List.of("o_proj", "down_proj");
                } else if (c.isGpt2() && targets.size() == 3) {
                    targets = List.of("c_proj");
                }
                LoraConfig lora = LoraConfig.defaults().withR(3).withTargetModules(targets);
                try (CausalLM lm = CausalLM.init(c, 0, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32))) {
                    assertEquals(lm.parameterCount(), MemoryModel.parameters(c), c.modelType());
                    lm.addAdapters(lora, 0);
                    long n = 0;
                    for (NDArray a : lm.trainableParameters().values()) {
                        n += a.getShape().size();
                    }
                    assertEquals(n, MemoryModel.loraParameters(c, lora), c.modelType() + " " + targets);
                }
            }
        }
    }

    @Test
    void fullFineTuningTermByTerm() {
        MemoryPlan p = MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).availableBytes(-1).build();
        MemoryPlan.Breakdown b = p.breakdown();
        assertEquals(0, b.frozenWeights());
        assertEquals(17_192L * 4, b.trainableWeights());
        assertEquals(17_192L * 4, b.gradients());
        assertEquals(17_192L * 8, b.optimizerState(), "AdamW's m and v in float32");
        assertEquals(17_192L * 4, b.reference(), "a separate float32 reference");
        // per layer, rows 2 × 4 tokens = 8 positions: input 64, q 64, k+v 64, probs 2·2·4² = 64, mid 64,
        // MLP 4·8·16 = 512, RMSNorm outputs 128, projection inputs 64+64+64+128 = 1280 elements;
        // two layers + final norm 128 + mask 16 = 2704 floats
        assertEquals(2_704L * 4, b.activations());
        // 6 scored positions: logits, log-softmax and its gradient 3·6·1000 floats + the gathered hidden 6·8
        assertEquals(3 * 6 * 1000 * 4 + 6 * 8 * 4, b.logits());
        assertEquals(0, b.convertedWeights());
        // what the step allocates and frees below glibc's mmap threshold, once more: activations and logits
        assertEquals(2_704 * 4 + 3 * 6 * 1000 * 4 + 6 * 8 * 4, b.allocatorSlack());
        assertEquals(OVERHEAD, b.overhead());
        assertEquals(252_168_096L, p.total());
        assertTrue(p.fits(), "unknown memory: fits");
    }

    /**
     * Rows of 4 tokens on the CPU run attention materialized (the tests above); where attention is fused (long rows,
     * a GPU, or align4j.attention=fused) a layer keeps k and v repeated to the query heads, the output and a
     * log-sum-exp instead of k, v and the probabilities, and no causal mask is kept.
     */
    @Test
    void fusedAttentionKeepsNoScoresAndNoMask() {
        String old = System.getProperty(FusedAttentionSwitch.PROPERTY);
        System.setProperty(FusedAttentionSwitch.PROPERTY, "fused");
        try {
            MemoryPlan p = MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).availableBytes(-1).build();
            // per layer: input 64, q 64, repeated k and v and the output 3·64, log-sum-exp 2·2·4 = 16, mid 64, MLP 512,
            // RMSNorm outputs 128, projection inputs 320 = 1360 elements; two layers + final norm 128 = 2848 floats
            assertEquals(2_848L * 4, p.breakdown().activations());
            LoraConfig lora = new LoraConfig(2, 4, 0, List.of("all-linear"), false);
            MemoryPlan l = MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).lora(lora).frozenDtype(MemoryPlan.Dtype.FLOAT16)
                    .reference(MemoryPlan.Reference.ADAPTERS_OFF).availableBytes(-1).build();
            // the materialized 2608 floats, less 2 × (k+v 64 + probs 64) and the mask 16, plus 2 × 208
            assertEquals((2_608L - 2 * 128 - 16 + 2 * 208) * 4, l.breakdown().activations());
            MemoryPlan g = MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).gradientCheckpointing(true).availableBytes(-1).build();
            assertEquals((2 * 64 + 128) * 4, g.breakdown().activations(), "layer inputs and the final norm's, no mask");
        } finally {
            if (old == null) {
                System.clearProperty(FusedAttentionSwitch.PROPERTY);
            } else {
                System.setProperty(FusedAttentionSwitch.PROPERTY, old);
            }
        }
        // auto: the same plan at 4 tokens on a GPU counts fused attention, on the CPU materialized
        assertEquals(2_848L * 4, MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).device(Device.gpu()).availableBytes(-1).build()
                .breakdown().activations(), "GPU");
    }

    @Test
    void loraWithHalfPrecisionBaseTermByTerm() {
        LoraConfig lora = new LoraConfig(2, 4, 0, List.of("all-linear"), false);
        MemoryPlan p = MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).lora(lora).frozenDtype(MemoryPlan.Dtype.FLOAT16)
                .reference(MemoryPlan.Reference.ADAPTERS_OFF).availableBytes(-1).build();
        MemoryPlan.Breakdown b = p.breakdown();
        assertEquals(17_192L * 2, b.frozenWeights());
        // A and B per layer: q 2·(8+8) + k 2·(8+4) + v 2·(8+4) + o 2·(8+8) + gate, up, down 2·(8+16) each = 256
        assertEquals(512L * 4, b.trainableWeights());
        assertEquals(512L * 4, b.gradients());
        assertEquals(512L * 8, b.optimizerState());
        assertEquals(0, b.reference(), "the base with the adapters off is no second copy");
        // per layer: input, q, k+v, probs, mid 64 each, MLP 512, adapter inputs 64+64+64+128, x·Aᵀ 7·8·2
        // = 1264; two layers + final norm input 64 + mask 16 = 2608 floats
        assertEquals(2_608L * 4, b.activations());
        // float32 copies of float16 weights kept for backward: both layers' projections and the head
        assertEquals(2 * 576 * 4 + 1000 * 8 * 4, b.convertedWeights());
        assertEquals(3 * 6 * 1000 * 4, b.logits());
        assertEquals(2_608 * 4 + 2 * 576 * 4 + 1000 * 8 * 4 + 3 * 6 * 1000 * 4, b.allocatorSlack());
        assertEquals(251_938_896L, p.total());

        // dropout keeps each group's dropped input (shared by q, k, v and by gate, up: one mask per input) and
        // its byte mask (a quarter of a float) instead of the input: (64 + 64 + 64 + 128)·(1 + 1/4) = 400
        // instead of 64+64+64+128, per layer
        MemoryPlan d = MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).lora(lora.withDropout(0.1))
                .frozenDtype(MemoryPlan.Dtype.FLOAT16).reference(MemoryPlan.Reference.ADAPTERS_OFF).availableBytes(-1).build();
        assertEquals((2_608L + 2 * (400 - 320)) * 4, d.breakdown().activations());
    }

    /**
     * A frozen float32 head on the CPU scores in row blocks of at most 16 MiB of logits and at least 64 rows
     * (HeadBlocks): the planner keeps the whole log-softmax and one block's two gradients instead of three [M, V].
     */
    @Test
    void frozenFloat32HeadCountsRowBlocks() {
        ModelConfig c = config(Map.of("model_type", "llama", "hidden_size", 8, "intermediate_size", 16, "num_hidden_layers", 2,
                "num_attention_heads", 2, "num_key_value_heads", 1, "vocab_size", 65_536, "max_position_embeddings", 64,
                "tie_word_embeddings", false));
        LoraConfig lora = new LoraConfig(2, 4, 0, List.of("all-linear"), false);
        long v = 65_536;
        long scored = 2 * 40; // 1 pair of 4 + 40 tokens: 80 scored positions, blocks of 16 MiB / (65,536 · 4) = 64 rows
        MemoryPlan blocks = MemoryPlan.builder(c).pairs(1).tokens(44, 40).lora(lora).reference(MemoryPlan.Reference.ADAPTERS_OFF)
                .availableBytes(-1).build();
        assertEquals((scored + 2 * 64) * v * 4, blocks.breakdown().logits());
        MemoryPlan half = MemoryPlan.builder(c).pairs(1).tokens(44, 40).lora(lora).reference(MemoryPlan.Reference.ADAPTERS_OFF)
                .frozenDtype(MemoryPlan.Dtype.FLOAT16).availableBytes(-1).build();
        assertEquals((scored + 2 * 64) * v * 4, half.breakdown().logits(), "a float16 head of 65,536 × 8 is widened once");
        ModelConfig wide = config(Map.of("model_type", "llama", "hidden_size", 512, "intermediate_size", 16,
                "num_hidden_layers", 1, "num_attention_heads", 2, "num_key_value_heads", 1, "vocab_size", 65_536,
                "max_position_embeddings", 64, "tie_word_embeddings", false));
        MemoryPlan halfWide = MemoryPlan.builder(wide).pairs(1).tokens(44, 40).lora(lora)
                .reference(MemoryPlan.Reference.ADAPTERS_OFF).frozenDtype(MemoryPlan.Dtype.FLOAT16).availableBytes(-1).build();
        assertEquals(3 * scored * v * 4, halfWide.breakdown().logits(), "a float16 head above 16 Mi elements: one product");
        MemoryPlan full = MemoryPlan.builder(c).pairs(1).tokens(44, 40).availableBytes(-1).build();
        assertEquals(3 * scored * v * 4 + scored * 8 * 4, full.breakdown().logits(), "a trainable head keeps one product");
        MemoryPlan few = MemoryPlan.builder(c).pairs(1).tokens(36, 32).lora(lora).reference(MemoryPlan.Reference.ADAPTERS_OFF)
                .availableBytes(-1).build();
        assertEquals(3 * 64 * v * 4, few.breakdown().logits(), "64 positions: one block, one product");
    }

    @Test
    void checkpointingKeepsLayerInputs() {
        MemoryPlan p = MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).gradientCheckpointing(true).availableBytes(-1).build();
        // each layer's input (64 floats), the final norm's 128, the mask 16; the head's moment is the larger
        assertEquals((2 * 64 + 128 + 16) * 4, p.breakdown().activations());
        // a short vocabulary makes a recomputed layer the peak: kept + that layer's 1280 + its backward
        // temporaries (3·8·16 + 2·64) + the output gradient and sum(out·g) 2·64
        ModelConfig small = config(Map.of("model_type", "llama", "hidden_size", 8, "intermediate_size", 16,
                "num_hidden_layers", 2, "num_attention_heads", 2, "num_key_value_heads", 1, "vocab_size", 4,
                "max_position_embeddings", 64, "tie_word_embeddings", false));
        MemoryPlan q = MemoryPlan.builder(small).pairs(1).tokens(4, 3).gradientCheckpointing(true).availableBytes(-1).build();
        assertEquals((272 + 1_280 + 512 + 128) * 4, q.breakdown().activations());
        assertEquals(0, q.breakdown().logits(), "freed before the layers' backward");
        // glibc's arenas keep the recomputed layer's blocks (work: 1,920 floats) 1.5 times and 0.3 times per further
        // layer: at the layer's moment on top of the once they count as the step's blocks, at the head's moment on
        // top of the kept inputs and the head's three [6, 1000] products and gathered hidden states
        assertEquals((272 + 1_920) * 4 + Math.round((1.5 + 0.3 - 1) * 1_920 * 4), q.breakdown().allocatorSlack());
        assertEquals(272 * 4 + 3 * 6 * 1000 * 4 + 6 * 8 * 4 + Math.round((1.5 + 0.3) * 1_920 * 4), p.breakdown().allocatorSlack());
        ModelConfig deeper = config(Map.of("model_type", "llama", "hidden_size", 8, "intermediate_size", 16,
                "num_hidden_layers", 6, "num_attention_heads", 2, "num_key_value_heads", 1, "vocab_size", 4,
                "max_position_embeddings", 64, "tie_word_embeddings", false));
        MemoryPlan d = MemoryPlan.builder(deeper).pairs(1).tokens(4, 3).gradientCheckpointing(true).availableBytes(-1).build();
        assertEquals(Math.round(0.3 * 4 * 1_920 * 4) + 4 * 64 * 4, d.breakdown().allocatorSlack() - q.breakdown().allocatorSlack(),
                "four more layers: four more kept inputs and 0.3 of a recomputed layer each");
        // with libtorch advising huge pages the arenas keep 0.45 of the step's blocks and 1.5 recomputed layers', whatever
        // the depth (the tests run with glibc's defaults: THP_MEM_ALLOC_ENABLE=0 in pom.xml)
        assertEquals(MemoryEstimate.Arenas.GLIBC, MemoryEstimate.ARENAS);
        MemoryEstimate.Settings qs = MemoryEstimate.Settings.of(small).withRows(2, true).withTokens(4, 3).withCheckpointing(true)
                .withAvailable(-1);
        assertEquals(q.breakdown(), MemoryEstimate.estimate(qs, MemoryEstimate.Arenas.GLIBC));
        assertEquals(Math.round(0.45 * (272 + 1_920) * 4) + Math.round((1.5 - 0.45) * 1_920 * 4),
                MemoryEstimate.estimate(qs, MemoryEstimate.Arenas.HUGE_PAGES).allocatorSlack());
        MemoryEstimate.Settings ds = MemoryEstimate.Settings.of(deeper).withRows(2, true).withTokens(4, 3).withCheckpointing(true)
                .withAvailable(-1);
        assertEquals(Math.round(0.45 * (272 + 4 * 64) * 4) - Math.round(0.45 * 272 * 4), MemoryEstimate.estimate(ds, MemoryEstimate.Arenas.HUGE_PAGES).allocatorSlack()
                - MemoryEstimate.estimate(qs, MemoryEstimate.Arenas.HUGE_PAGES).allocatorSlack(), "four more kept inputs, nothing per layer");
        // calibrated on the CPU: no caveat; a GPU plan says what it assumed
        assertEquals("", q.caveat());
        assertFalse(q.format().contains("note:"), q.format());
        MemoryPlan gpu = MemoryPlan.builder(small).pairs(1).tokens(4, 3).gradientCheckpointing(true).device(Device.gpu())
                .availableBytes(-1).build();
        assertTrue(gpu.caveat().contains("assumed, not measured"), gpu.caveat());
        assertTrue(gpu.format().contains("note: on a GPU"), gpu.format());
        MemoryPlan plain = MemoryPlan.builder(small).pairs(1).tokens(4, 3).availableBytes(-1).build();
        assertEquals("", plain.caveat(), "without recomputation the estimate is a forecast");
        assertFalse(plain.format().contains("note:"), plain.format());
    }

    @Test
    void slackFollowsGlibcsMmapThreshold() {
        assertEquals(32L << 20, MemoryEstimate.mmapThreshold(null), "glibc's largest dynamic threshold");
        assertEquals(4L << 20, MemoryEstimate.mmapThreshold("4194304"), "MALLOC_MMAP_THRESHOLD_ fixes it");
        assertEquals(32L << 20, MemoryEstimate.mmapThreshold("1073741824"), "glibc caps it");
        assertEquals(32L << 20, MemoryEstimate.mmapThreshold("lots"));
    }

    @Test
    void fitsComparesWithTheAvailableMemory() {
        long total = MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).availableBytes(-1).build().total();
        assertTrue(MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).availableBytes(total).build().fits());
        MemoryPlan tight = MemoryPlan.builder(tiny()).pairs(1).tokens(4, 3).availableBytes(total - 1).build();
        assertFalse(tight.fits());
        assertTrue(MemoryPlan.builder(tiny()).build().available() > 0, "the CPU's available memory is measured");
    }

    @Test
    void suggestionsFitAndCarryTheirEstimate() {
        ModelConfig c = tiny();
        MemoryPlan full = MemoryPlan.builder(c).pairs(8).tokens(64, 32).availableBytes(-1).build();
        long lora = MemoryPlan.builder(c).pairs(8).tokens(64, 32).lora(LoraConfig.defaults())
                .reference(MemoryPlan.Reference.ADAPTERS_OFF).availableBytes(-1).build().total();
        long batch2 = MemoryPlan.builder(c).pairs(2).tokens(64, 32).availableBytes(-1).build().total();
        long avail = Math.max(lora, batch2);
        assertTrue(avail < full.total());
        MemoryPlan p = MemoryPlan.builder(c).pairs(8).tokens(64, 32).availableBytes(avail).build();
        assertFalse(p.fits());
        List<MemoryPlan.Suggestion> s = p.suggestions();
        assertTrue(s.stream().anyMatch(x -> x.setting().startsWith("use_peft: true") && x.total() == lora), s.toString());
        MemoryPlan.Suggestion b = s.stream().filter(x -> x.setting().startsWith("per_device_train_batch_size")).findFirst()
                .orElseThrow();
        long k = Long.parseLong(b.setting().replaceAll("per_device_train_batch_size: (\\d+).*", "$1"));
        assertTrue(k >= 2 && k < 8, b.toString());
        assertEquals(MemoryPlan.builder(c).pairs((int) k).tokens(64, 32).availableBytes(-1).build().total(), b.total());
        for (MemoryPlan.Suggestion x : s) {
            assertTrue(x.total() <= avail, x.toString());
        }
        String table = p.format();
        for (String w : List.of("frozen weights", "optimizer state", "activations", "logits", "reference weights",
                "total (estimated peak)", "available", "fits", "no", "would fit with", "use_peft: true")) {
            assertTrue(table.contains(w), w + " in\n" + table);
        }
        assertTrue(MemoryPlan.builder(c).pairs(8).tokens(64, 32).availableBytes(avail + full.total()).build().suggestions()
                .isEmpty(), "a plan that fits suggests nothing");
    }

    /** TinyLlama-1.1B's shape (the first size). */
    static ModelConfig tinyLlama() {
        return config(Map.of("model_type", "llama", "hidden_size", 2048, "intermediate_size", 5632, "num_hidden_layers", 22,
                "num_attention_heads", 32, "num_key_value_heads", 4, "vocab_size", 32000, "max_position_embeddings", 2048,
                "tie_word_embeddings", false));
    }

    @Test
    void combinedSuggestionWhenNoSingleChangeFitsAndNothingWhenNothingCan() {
        ModelConfig c = tinyLlama();
        assertEquals(1_100_048_384L, MemoryModel.parameters(c), "TinyLlama-1.1B's published count");
        long all = MemoryPlan.builder(c).pairs(4).tokens(512, 256).lora(LoraConfig.defaults())
                .reference(MemoryPlan.Reference.ADAPTERS_OFF).frozenDtype(MemoryPlan.Dtype.FLOAT16).gradientCheckpointing(true)
                .availableBytes(-1).build().total();
        MemoryPlan p = MemoryPlan.builder(c).pairs(4).tokens(512, 256).availableBytes(all).build();
        List<MemoryPlan.Suggestion> s = p.suggestions();
        assertEquals(1, s.size(), s.toString());
        assertTrue(s.get(0).setting().contains("use_peft: true") && s.get(0).setting().contains("torch_dtype: float16")
                && s.get(0).setting().contains("gradient_checkpointing: true"), s.toString());
        assertEquals(all, s.get(0).total());
        MemoryPlan none = MemoryPlan.builder(c).pairs(4).tokens(512, 256).availableBytes(1L << 30).build();
        assertTrue(none.suggestions().isEmpty());
        assertTrue(none.format().contains("nothing fits"), none.format());
    }

    @Test
    void recipeKeysMakeThePlan() {
        TrainConfig cfg = TrainConfig.defaults().with(Map.of("use_peft", true, "lora_r", 8, "lora_target_modules", "all-linear",
                "torch_dtype", "float16", "gradient_checkpointing", true, "per_device_train_batch_size", 4, "max_length", 40),
                "test");
        MemoryEstimate.Settings s = MemoryPlan.of(cfg, tiny(), Device.cpu()).settings();
        assertEquals(8, s.rows(), "4 pairs: chosen and rejected in one forward");
        assertEquals(40, s.tokens());
        assertEquals(39, s.completion(), "the worst case: a one-token prompt");
        assertEquals(8, s.lora().r());
        assertEquals(MemoryPlan.Dtype.FLOAT16, s.frozen());
        assertTrue(s.checkpointing());
        assertEquals(MemoryPlan.Reference.ADAPTERS_OFF, s.reference());
        MemoryEstimate.Settings f = MemoryPlan.of(TrainConfig.defaults().with(Map.of("precompute_ref_log_probs", true), "t"),
                tiny(), Device.cpu()).settings();
        assertEquals(null, f.lora());
        assertEquals(MemoryPlan.Reference.PRECOMPUTED, f.reference());
        ModelConfig half = config(Map.of("model_type", "llama", "hidden_size", 8, "intermediate_size", 16, "num_hidden_layers", 1,
                "num_attention_heads", 2, "vocab_size", 10, "torch_dtype", "bfloat16"));
        assertEquals(MemoryPlan.Dtype.FLOAT16, MemoryPlan.Dtype.of("auto", half), "bfloat16 files are held as float16");
        assertEquals(MemoryPlan.Dtype.FLOAT32, MemoryPlan.Dtype.of("auto", tiny()));
    }

    @Test
    void theTrainersCheckRefusesWithTheBreakdown() {
        long total = MemoryPlan.builder(tiny()).pairs(8).tokens(64, 32).availableBytes(-1).build().total();
        MemoryPlan p = MemoryPlan.builder(tiny()).pairs(8).tokens(64, 32).availableBytes(total - 1000).build();
        Align4jException e = assertThrows(Align4jException.class, () -> MemoryPlan.check(p, 0));
        assertTrue(e.getMessage().contains("needs about") && e.getMessage().contains("memory plan")
                && e.getMessage().contains("would fit with"), e.getMessage());
        MemoryPlan.check(p, p.total() - p.available()); // what is already loaded is not needed again
    }
}
