package io.github.align4j.examples;

import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import java.nio.file.Path;

/**
 * The README's Java example: load a Hugging Face checkpoint and score two completions of a prompt
 * the way TRL's DPOTrainer does. {@code ExamplesTest} runs it and checks that the README shows
 * exactly the code between the README markers.
 *
 * <pre>java ... io.github.align4j.examples.LogProbs path/to/model</pre>
 */
public final class LogProbs {
    private LogProbs() {}

    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        // README:begin
        try (CausalLM lm = CausalLM.load(dir, CausalLM.Options.inference()); TextTokenizer tok = TextTokenizer.load(dir)) {
            String[] answers = {" Paris.", " I do not know."};
            // log p(answer + EOS | prompt): prompt and answer tokenized apart, EOS appended, no BOS (as TRL)
            double[] logps = lm.score(tok, "Question: What is the capital of France?\nAnswer:", answers);
            for (int i = 0; i < answers.length; i++) {
                System.out.printf("%-18s %.3f%n", answers[i], logps[i]);
            }
        }
        // README:end
    }
}
