package com.example.consumer;

import ai.djl.Device;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An application's use of align4j: make a tiny random Llama, write eight preference pairs, and tune
 * it with DPO for three steps through the public API. Compiled against DJL 0.36 (CPU block) and
 * against DJL 0.33 (CUDA block, {@code mvn -Pcuda compile}) by .ci/run.
 */
public final class TrainDpo {
    private static final Logger LOG = LoggerFactory.getLogger(TrainDpo.class);

    private TrainDpo() {}

    /** {@code TrainDpo WORK_DIR}: trains into WORK_DIR/run. */
    public static void main(String[] args) throws IOException {
        run(Path.of(args[0]));
    }

    /** Trains into {@code work/run} and returns that folder. */
    public static Path run(Path work) throws IOException {
        Path model = tinyModel(work.resolve("model"));
        Path pairs = work.resolve("pairs.jsonl");
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            rows.add("{\"prompt\": \"Question " + i + ": is the sky blue?\\nAnswer:\", \"chosen\": \" Yes, it is blue.\","
                    + " \"rejected\": \" No" + ".".repeat(i % 3 + 1) + "\"}");
        }
        Files.write(pairs, rows, StandardCharsets.UTF_8);

        TrainConfig cfg = TrainConfig.defaults().with(Map.of("beta", 0.1, "learning_rate", 1e-3, "max_steps", 3,
                "per_device_train_batch_size", 4, "logging_steps", 1, "seed", 7), "TrainDpo");
        Path out = work.resolve("run");
        try (TextTokenizer tok = TextTokenizer.load(model, null);
                CausalLM policy = CausalLM.load(model, CausalLM.Options.training().withDevice(Device.cpu()))) {
            PreferenceData data = PreferenceData.load(pairs.toString(),
                    DataOptions.defaults().withCacheDir(work.resolve("cache")), tok);
            try (PreferenceTrainer trainer = PreferenceTrainer.builder()
                    .config(cfg)
                    .policy(policy)                        // reference: a frozen copy of the same folder
                    .loss(Losses.create("dpo", Map.of()))
                    .trainPairs(data.pairs())
                    .output(out)
                    .build()) {
                trainer.train();
            }
        }
        LOG.info("trained DPO into {}", out);
        return out;
    }

    /** A random 1-layer Llama with the tokenizer that align4j's jar carries (794 tokens, ChatML). */
    static Path tinyModel(Path dir) {
        CausalLM.init("llama", Map.of("hidden_size", 32, "intermediate_size", 64, "num_hidden_layers", 1,
                "num_attention_heads", 4, "num_key_value_heads", 2, "max_position_embeddings", 256), null, dir, 1);
        return dir;
    }
}
