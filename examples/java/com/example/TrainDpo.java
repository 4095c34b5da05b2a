package com.example;

import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import java.nio.file.Path;
import java.util.Map;

/** DPO from Java: {@code TrainDpo MODEL_DIR DATA_FILE OUTPUT_DIR [max_steps]}. */
public final class TrainDpo {
    public static void main(String[] args) {
        Path model = Path.of(args[0]);
        int steps = args.length > 3 ? Integer.parseInt(args[3]) : 100;
        TrainConfig cfg = TrainConfig.defaults().with(Map.of(
                "beta", 0.1, "learning_rate", 5e-4, "max_steps", steps, "per_device_train_batch_size", 4,
                "max_length", 256, "max_prompt_length", 128, "logging_steps", 10), "TrainDpo");
        try (TextTokenizer tok = TextTokenizer.load(model, null);
                CausalLM policy = CausalLM.load(model, CausalLM.Options.training())) {
            PreferenceData data = PreferenceData.load(args[1], DataOptions.defaults()
                    .withMaxLength(cfg.data().maxLength()).withMaxPromptLength(cfg.data().maxPromptLength()), tok);
            PreferenceData[] split = data.split(0.1, cfg.optimization().seed()); // {train, held out}
            try (PreferenceTrainer trainer = PreferenceTrainer.builder()
                    .config(cfg)
                    .policy(policy)                          // reference: a frozen copy of MODEL_DIR
                    .loss(Losses.create("dpo", Map.of()))    // or new SoftHingeLoss(), any PreferenceLoss
                    .trainPairs(split[0].pairs())
                    .evalPairs(split[1].pairs())
                    .output(Path.of(args[2]))                // metrics.jsonl, checkpoint-*/, final/
                    .build()) {
                PreferenceTrainer.TrainResult r = trainer.train();
                System.out.println("held-out reward accuracy: " + r.lastEval().get("eval_rewards/accuracies"));
            }
        }
    }
}
