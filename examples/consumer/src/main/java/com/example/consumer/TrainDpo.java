package com.example.consumer;

import ai.djl.Device;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import io.github.align4j.train.TrainingListener;
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
 * An application's use of align4j: make a tiny random Llama, write eight preference pairs and a YAML
 * recipe, and tune it for three steps with the application's own loss ({@link MarginDpoLoss}, its
 * option from the recipe) through the public API, receiving metrics in a listener. Compiled against DJL 0.36 (CPU block) and
 * against DJL 0.33 (CUDA block, {@code mvn -Pcuda compile}) by .ci/run.
 */
public final class TrainDpo {
    private static final Logger LOG = LoggerFactory.getLogger(TrainDpo.class);

    private TrainDpo() {}

    /** {@code TrainDpo WORK_DIR}: trains into WORK_DIR/run. */
    public static void main(String[] args) throws IOException {
        run(Path.of(args[0]));
    }

    /** What a run hands back: its folder and the metrics each step reported to the listener. */
    public record Run(Path output, List<Map<String, Double>> steps) {}

    /** Trains DPO, then the application's own loss, each from its recipe; returns both runs. */
    public static List<Run> run(Path work) throws IOException {
        Path model = tinyModel(work.resolve("model"));
        return List.of(run(work, model, "dpo", "dpo", ""),
                run(work, model, "own", MarginDpoLoss.class.getName(),
                        "loss_kwargs:\n  target_margin: 0.5\nprecompute_ref_log_probs: true"));
    }

    /**
     * Trains into {@code work/<name>} from a YAML recipe (a built-in loss by its TRL name, or the
     * application's own by class name with its option from {@code loss_kwargs:}), receiving every
     * step's metrics in a listener.
     */
    static Run run(Path work, Path model, String name, String lossType, String lossKwargs) throws IOException {
        Path pairs = work.resolve(name + "-pairs.jsonl");
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            rows.add("{\"prompt\": \"Question " + i + ": is the sky blue?\\nAnswer:\", \"chosen\": \" Yes, it is blue.\","
                    + " \"rejected\": \" No" + ".".repeat(i % 3 + 1) + "\"}");
        }
        Files.write(pairs, rows, StandardCharsets.UTF_8);
        Path recipe = work.resolve(name + ".yaml");
        Files.writeString(recipe, String.join("\n",
                "loss_type: " + lossType,
                lossKwargs,
                "beta: 0.1",
                "learning_rate: 1.0e-3",
                "max_steps: 3",
                "per_device_train_batch_size: 4",
                "logging_steps: 1",
                "seed: 7",
                ""));

        TrainConfig cfg = TrainConfig.fromYaml(recipe, TrainConfig.defaults(), new ArrayList<>());
        Path out = work.resolve(name);
        List<Map<String, Double>> steps = new ArrayList<>();
        try (TextTokenizer tok = TextTokenizer.load(model, null);
                CausalLM policy = CausalLM.load(model, CausalLM.Options.training().withDevice(Device.cpu()))) {
            PreferenceData data = PreferenceData.load(pairs.toString(),
                    DataOptions.defaults().withCacheDir(work.resolve("cache")), tok);
            try (PreferenceTrainer trainer = PreferenceTrainer.builder()
                    .config(cfg)                           // the loss comes from the recipe
                    .policy(policy)                        // reference: a frozen copy of the same folder
                    .trainPairs(data.pairs())
                    .output(out)
                    .listener(new TrainingListener() {
                        @Override
                        public void onStepEnd(long step, Map<String, Double> metrics) {
                            steps.add(Map.copyOf(metrics));
                            LOG.info("step {}: loss {}", step, metrics.get("loss"));
                        }
                    })
                    .build()) {
                trainer.train();
            }
        }
        LOG.info("trained {} into {}", cfg.lossSpec().type(), out);
        return new Run(out, steps);
    }

    /** A random 1-layer Llama with the tokenizer that align4j's jar carries (794 tokens, ChatML). */
    static Path tinyModel(Path dir) {
        CausalLM.init("llama", Map.of("hidden_size", 32, "intermediate_size", 64, "num_hidden_layers", 1,
                "num_attention_heads", 4, "num_key_value_heads", 2, "max_position_embeddings", 256), null, dir, 1);
        return dir;
    }
}
