package com.example;

import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.PreferenceRun;
import io.github.align4j.train.TrainConfig;
import io.github.align4j.train.TrainingListener;
import java.nio.file.Path;
import java.util.Map;

/**
 * LoRA-DPO from Java, as TRL's {@code DPOTrainer(peft_config=LoraConfig(r=8, target_modules="all-linear"))}: a held-out
 * split, a listener, the PEFT adapter saved, merged into a full checkpoint, and completions scored on the merged model.
 * {@code LoraDpo MODEL_DIR DATA_FILE OUTPUT_DIR}. README quotes the blocks between the markers; {@code LoraDpoExampleTest}
 * runs it and counts their lines.
 */
public final class LoraDpo {
    private LoraDpo() {}

    public static void main(String[] args) {
        String model = args[0];
        String data = args[1];
        Path out = Path.of(args[2]);
        // README:train:begin
        TrainConfig cfg = TrainConfig.builder().modelPath(model).trainFile(data).evalSplit(0.1)
                .usePeft(true).loraR(8).loraAlpha(16).loraTargetModules("all-linear")
                .lossType("dpo").beta(0.1).learningRate(5e-3).maxSteps(20).outputDir(out.toString()).build();
        PreferenceRun.builder().config(cfg).listener(new TrainingListener() {
            @Override
            public void onEvaluate(long step, Map<String, Double> m) {
                System.out.println("step " + step + ": held-out accuracy " + m.get("eval_rewards/accuracies"));
            }
        }).build().train(); // out/final/: adapter_config.json + adapter_model.safetensors, as PEFT saves them
        // README:train:end
        // README:merge:begin
        try (CausalLM lm = CausalLM.load(Path.of(model), CausalLM.Options.inference()).loadAdapter(out.resolve("final"), false)) {
            lm.saveMerged(out.resolve("merged")); // a full Hugging Face checkpoint, tokenizer files included
        }
        // README:merge:end
        Path merged = out.resolve("merged");
        double[] logps;
        // README:score:begin
        try (CausalLM lm = CausalLM.load(merged, CausalLM.Options.inference()); TextTokenizer tok = TextTokenizer.load(merged)) {
            logps = lm.score(tok, "Question: What is the capital of France?\nAnswer:", " Paris.", " I do not know.");
        }
        // README:score:end
        System.out.printf("log p(Paris.) = %.4f, log p(I do not know.) = %.4f%n", logps[0], logps[1]);
    }
}
