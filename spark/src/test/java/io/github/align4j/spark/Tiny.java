package io.github.align4j.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.model.CausalLM;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** A tiny random Llama with the built-in tokenizer, preference pairs and a 4-cell sweep file over them. */
final class Tiny {
    private Tiny() {}

    static final String[] PRODUCTS = {"phone", "lamp", "chair", "kettle", "camera", "bike", "watch", "desk"};

    static Path model(Path dir) {
        return model(dir, 7);
    }

    static Path model(Path dir, long seed) {
        CausalLM.init("llama", Map.of("hidden_size", 32, "num_hidden_layers", 1, "num_attention_heads", 2,
                "num_key_value_heads", 2, "intermediate_size", 64), null, dir, seed);
        return dir;
    }

    /** A LoRA adapter on {@code base} (all-linear, r 4, B random so that it changes the outputs) saved in {@code out}. */
    static Path adapter(Path base, Path out, long seed) {
        try (CausalLM lm = CausalLM.load(base, new CausalLM.Options(ai.djl.Device.cpu(), false,
                ai.djl.ndarray.types.DataType.FLOAT32))) {
            lm.addAdapters(new io.github.align4j.model.LoraConfig(4, 8, 0,
                    List.of(io.github.align4j.model.LoraConfig.ALL_LINEAR), false), seed);
            Random r = new Random(seed + 1);
            for (Map.Entry<String, ai.djl.ndarray.NDArray> e : lm.trainableParameters().entrySet()) {
                if (e.getKey().endsWith("lora_B.weight")) {
                    float[] v = new float[Math.toIntExact(e.getValue().size())];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) (0.5 * r.nextGaussian());
                    }
                    e.getValue().set(v);
                }
            }
            lm.saveAdapter(out);
        }
        return out;
    }

    static Path pairs(Path file, int n, long seed) throws Exception {
        ObjectMapper json = new ObjectMapper();
        Random r = new Random(seed);
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String p = PRODUCTS[r.nextInt(PRODUCTS.length)];
            rows.add(json.writeValueAsString(Map.of("prompt", "How is the " + p + "?", "chosen", "The " + p + " is great.",
                    "rejected", "The " + p + " is awful.")));
        }
        Files.write(file, rows);
        return file;
    }

    /** dpo and ipo × β 0.1 and 0.5, a few steps each, checkpoints every saveSteps steps. */
    static Path sweepFile(Path yaml, Path model, Path data, Path output, int steps, int saveSteps) throws Exception {
        Files.writeString(yaml, String.join("\n",
                "model_name_or_path: " + model.toAbsolutePath(),
                "train_file: " + data.toAbsolutePath(),
                "eval_split: 0.25",
                "output_dir: " + output.toAbsolutePath(),
                "max_steps: " + steps,
                "save_steps: " + saveSteps,
                "per_device_train_batch_size: 4",
                "learning_rate: 1.0e-3",
                "device: cpu",
                "grid:",
                "  loss_type: [dpo, ipo]",
                "  beta: [0.1, 0.5]",
                ""));
        return yaml;
    }

    /** results.csv without its seconds column (timings differ from run to run). */
    static List<String> withoutSeconds(Path csv) throws Exception {
        List<String> out = new ArrayList<>();
        List<String> lines = Files.readAllLines(csv);
        int col = List.of(lines.get(0).split(",")).indexOf("seconds");
        for (String l : lines) {
            List<String> f = new ArrayList<>(List.of(l.split(",", -1)));
            f.remove(col);
            out.add(String.join(",", f));
        }
        return out;
    }
}
