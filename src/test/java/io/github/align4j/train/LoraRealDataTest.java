package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.TestData;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.Offline;
import io.github.align4j.model.TextTokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On real data (LLaMA-Factory's dpo_en_demo, src/test/resources/data/preference, origin in its
 * SOURCES.md) a tiny random model's held-out reward accuracy rises with LoRA-DPO as it does with full
 * DPO: both start at 0 (policy = reference) and end above chance with a positive mean margin on pairs
 * they never saw. The effect is small (a random 2-layer model, 240 training pairs): this checks that
 * LoRA learns what full fine-tuning learns from real text, not how much.
 */
class LoraRealDataTest {
    static {
        Offline.ensure();
    }

    @Test
    void loraDpoImprovesHeldOutAccuracyAsFullDpoDoes(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("model");
        CausalLM.init("llama", Map.of("hidden_size", 64, "num_hidden_layers", 2, "num_attention_heads", 4,
                "num_key_value_heads", 2, "intermediate_size", 128), null, model, 3);
        Path template = dir.resolve("chatml.jinja");
        java.nio.file.Files.writeString(template, "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] "
                + "+ '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
        PreferenceData all;
        try (TextTokenizer tok = TextTokenizer.load(model, null)) {
            all = PreferenceData.load(TestData.shared("data/preference/llamafactory_dpo_en_demo.json").toString(),
                    DataOptions.defaults().withMaxLength(160).withMaxPromptLength(64).withChatTemplateFile(template), tok);
        }
        PreferenceData[] parts = all.split(0.2, 1);
        TrainConfig cfg = TrainConfig.defaults().with(Map.of("beta", 0.1, "lr_scheduler_type", "constant",
                "per_device_train_batch_size", 8, "per_device_eval_batch_size", 16, "num_train_epochs", 2.0,
                "logging_steps", 1000, "max_grad_norm", 1.0, "seed", 5, "max_length", 160, "max_prompt_length", 64), "test");
        Map<String, Object> full = heldOut(model, parts, cfg.with("learning_rate", 1e-3, "test"), null);
        Map<String, Object> lora = heldOut(model, parts, cfg.with("learning_rate", 1e-2, "test"),
                LoraConfig.defaults().withR(16).withAlpha(32).withTargetModules(List.of("all-linear")));
        System.out.printf("held-out reward accuracy on %d pairs: full DPO %s, LoRA-DPO %s%n", parts[1].size(),
                full.get("eval_rewards/accuracies"), lora.get("eval_rewards/accuracies"));
        for (Map<String, Object> m : List.of(full, lora)) {
            double acc = ((Number) m.get("eval_rewards/accuracies")).doubleValue();
            double margin = ((Number) m.get("eval_rewards/margins")).doubleValue();
            // measured here (AMD EPYC): full 0.599 / LoRA 0.677 on 60 held-out pairs (0 at the start, chance 0.5); the
            // held-out loss stays near ln 2: 240 pairs teach a random 2-layer model little that transfers
            assertTrue(acc > 0.5, "held-out accuracy above chance: " + m);
            assertTrue(margin > 0, "held-out margin positive: " + m);
        }
    }

    private static Map<String, Object> heldOut(Path model, PreferenceData[] parts, TrainConfig cfg, LoraConfig lora) {
        try (CausalLM policy = lora == null ? CausalLM.load(model, new CausalLM.Options(Device.cpu(), true, DataType.FLOAT32))
                : CausalLM.load(model, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32)).addAdapters(lora, 5);
                PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy).loss(Losses.create("dpo", Map.of()))
                        .trainPairs(parts[0].pairs()).evalPairs(parts[1].pairs()).build()) {
            assertEquals(0.0, t.evaluate().get("eval_rewards/accuracies"), "policy = reference at the start");
            return t.train().lastEval();
        }
    }
}
