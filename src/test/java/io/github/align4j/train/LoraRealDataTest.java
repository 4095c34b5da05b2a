package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.TestData;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import io.github.align4j.model.TextTokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On real data (LLaMA-Factory's dpo_en_demo, src/test/resources/data/preference, origin in its
 * SOURCES.md) LoRA-DPO learns the preferences of real text as full DPO does: both start at reward
 * accuracy 0 (policy = reference) and end far above chance with a clear margin and a loss well below
 * ln 2 on the 240 pairs they trained on. Held-out pairs are not asserted: a random 2-layer model learns
 * little from 240 pairs that transfers, and what it does learn (held-out accuracy 0.47 to 0.68) moved
 * with libtorch's SIMD kernels (ATEN_CPU_CAPABILITY avx512 / avx2 / default) more than the effect itself.
 */
class LoraRealDataTest {
    static {
        Offline.ensure();
    }

    @Test
    void loraDpoLearnsRealPreferencesAsFullDpoDoes(@TempDir Path dir) throws Exception {
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
        Map<String, Object> full = trained(model, parts, cfg.with("learning_rate", 1e-3, "test"), null);
        Map<String, Object> lora = trained(model, parts, cfg.with("learning_rate", 3e-3, "test"),
                LoraConfig.defaults().withR(16).withAlpha(32).withTargetModules(List.of("all-linear")));
        System.out.printf("on the %d training pairs: full DPO %s, LoRA-DPO %s%n", parts[0].size(), full, lora);
        for (Map<String, Object> m : List.of(full, lora)) {
            double acc = ((Number) m.get("eval_rewards/accuracies")).doubleValue();
            double margin = ((Number) m.get("eval_rewards/margins")).doubleValue();
            double loss = ((Number) m.get("eval_loss")).doubleValue();
            // measured on an Intel Xeon under ATEN_CPU_CAPABILITY avx512 / avx2 / default alike: full DPO accuracy 0.996,
            // margin 2.37, loss 0.140; LoRA-DPO 0.954, 0.665, 0.436 (at LoRA lr 1e-2 it swung from 0.46 to 0.63 with the kernels)
            assertTrue(acc > 0.75, "reward accuracy far above chance: " + m);
            assertTrue(margin > 0.3, "a clear mean margin: " + m);
            assertTrue(loss < Math.log(2) - 0.1, "loss well below ln 2: " + m);
        }
    }

    private static Map<String, Object> trained(Path model, PreferenceData[] parts, TrainConfig cfg, LoraConfig lora) {
        try (CausalLM policy = lora == null ? CausalLM.load(model, new CausalLM.Options(Device.cpu(), true, DataType.FLOAT32))
                : CausalLM.load(model, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32)).addAdapters(lora, 5);
                PreferenceTrainer t = PreferenceTrainer.builder().config(cfg).policy(policy).loss(Losses.create("dpo", Map.of()))
                        .trainPairs(parts[0].pairs()).evalPairs(parts[0].pairs()).build()) {
            assertEquals(0.0, t.evaluate().get("eval_rewards/accuracies"), "policy = reference at the start");
            return t.train().lastEval();
        }
    }
}
