package io.github.align4j.examples;

import ai.djl.ndarray.NDManager;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.SequenceScorer;
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
        try (CausalLM lm = CausalLM.load(dir, CausalLM.Options.inference());
                TextTokenizer tok = TextTokenizer.load(dir, lm.config().eosTokenId());
                NDManager batch = lm.manager().newSubManager()) {
            int[] prompt = tok.encode("Question: What is the capital of France?\nAnswer:");
            String[] answers = {" Paris.", " I do not know."};
            int[][] sequences = new int[answers.length][];
            int[] completionStart = new int[answers.length];
            for (int i = 0; i < answers.length; i++) {
                int[] answer = tok.encode(answers[i]);
                int[] s = new int[prompt.length + answer.length + 1]; // prompt + answer + EOS, no BOS (as TRL)
                System.arraycopy(prompt, 0, s, 0, prompt.length);
                System.arraycopy(answer, 0, s, prompt.length, answer.length);
                s[s.length - 1] = tok.eosId();
                sequences[i] = s;
                completionStart[i] = prompt.length;
            }
            SequenceScorer.Scores scores = SequenceScorer.score(lm, batch, sequences, completionStart);
            float[] logps = scores.logps().toFloatArray(); // log p(answer + EOS | prompt), one per row
            for (int i = 0; i < answers.length; i++) {
                System.out.printf("%-18s %.3f%n", answers[i], logps[i]);
            }
        }
        // README:end
    }
}
