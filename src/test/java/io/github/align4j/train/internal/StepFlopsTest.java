package io.github.align4j.train.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.ModelConfig;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The FLOP count {@code bench} divides by the step time, counted by hand for a tiny Llama: hidden 8,
 * 2 layers, 2 heads of 4 with 1 key/value head, MLP 12, vocabulary 20; 1 pair of 1 prompt + 2
 * completion tokens: R = 2 rows, T = 3, N = 6 positions, M = 4 scored positions.
 *
 * <p>Per layer Σ in·out = q 8·8 + k 8·4 + v 8·4 + o 8·8 + gate, up, down 3·8·12 = 480, so the
 * projections cost 2 layers · 2·6·480 = 11,520; attention 2 layers · 4·R·H·T²·D = 2·4·2·2·9·4 =
 * 1,152; the head 2·M·E·V = 2·4·8·20 = 1,280; a base forward 13,952 (counted with shared prompts off:
 * one row a sequence).
 */
class StepFlopsTest {
    @org.junit.jupiter.api.BeforeEach
    void oneRowASequence() {
        System.setProperty(io.github.align4j.model.internal.PromptSharing.PROPERTY, "off");
    }

    @org.junit.jupiter.api.AfterEach
    void restore() {
        System.clearProperty(io.github.align4j.model.internal.PromptSharing.PROPERTY);
    }

    /**
     * The pair's prompt once: R = 1 row of T + C = 5 tokens [prompt | chosen | rejected], N = 5: projections
     * 2 layers · 2·5·480 = 9,600, attention over the whole 5 × 5 square 2 · 4·1·2·25·4 = 1,600, the head
     * unchanged (M = 4 scored positions) 1,280: a base forward 12,480.
     */
    @Test
    void sharedPrompt() {
        System.setProperty(io.github.align4j.model.internal.PromptSharing.PROPERTY, "auto");
        StepFlops f = StepFlops.of(tiny(), 1, 3, 2, null, false, false, false);
        assertEquals(12_480, f.forward());
        assertEquals(12_480, f.reference());
        assertEquals(9_600 + 2 * 1_600 + 1_280, f.inputGradients());
        assertEquals(9_600 + 1_280, f.weightGradients());
    }

    static ModelConfig tiny() {
        return ModelConfig.parse(new ObjectMapper().valueToTree(Map.of("model_type", "llama", "hidden_size", 8, "intermediate_size", 12,
                "num_hidden_layers", 2, "num_attention_heads", 2, "num_key_value_heads", 1, "vocab_size", 20)), "test");
    }

    @Test
    void fullFineTuning() {
        StepFlops f = StepFlops.of(tiny(), 1, 3, 2, null, false, false, false);
        assertEquals(13_952, f.forward());
        assertEquals(13_952, f.reference(), "a separate reference runs the same forward");
        assertEquals(0, f.recompute());
        assertEquals(11_520 + 2 * 1_152 + 1_280, f.inputGradients(), "every product's input, both operands of attention's");
        assertEquals(11_520 + 1_280, f.weightGradients(), "every projection and the head");
        assertEquals(55_808, f.total());

        StepFlops g = StepFlops.of(tiny(), 1, 3, 2, null, true, true, false);
        assertEquals(0, g.reference(), "a precomputed reference costs nothing per step");
        assertEquals(11_520 + 1_152, g.recompute(), "the layers again, not the head");
    }

    @Test
    void lora() {
        // all-linear r = 2: per layer r·Σ(in + out) = 2·(16 + 12 + 12 + 16 + 20 + 20 + 20) = 232; 2 layers · 2·N·232 = 5,568
        LoraConfig all = new LoraConfig(2, 4, 0.05, List.of("all-linear"), false);
        StepFlops f = StepFlops.of(tiny(), 1, 3, 2, all, true, false, false);
        assertEquals(13_952 + 5_568, f.forward());
        assertEquals(13_952, f.reference(), "adapters off");
        assertEquals(11_520 + 1_152 + 5_568, f.recompute());
        assertEquals(11_520 + 2 * 1_152 + 1_280 + 5_568, f.inputGradients());
        assertEquals(5_568, f.weightGradients(), "only A and B: the frozen base gets no weight gradient");

        // q_proj, v_proj: 2·(16 + 12) = 56 per layer; 2 layers · 2·6·56 = 1,344
        LoraConfig qv = new LoraConfig(2, 4, 0, List.of("q_proj", "v_proj"), false);
        StepFlops h = StepFlops.of(tiny(), 1, 3, 2, qv, false, false, false);
        assertEquals(13_952 + 1_344, h.forward());
        assertEquals(1_344, h.weightGradients());
        assertEquals(0, h.recompute());
        assertEquals(2 * 13_952 + 1_344 + (11_520 + 2 * 1_152 + 1_280 + 1_344) + 1_344, h.total());
    }
}
