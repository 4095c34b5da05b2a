package io.github.align4j.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.internal.PromptSharing;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * Not a unit test: a measurement, skipped unless {@code SHARED_PROMPT_BENCH=on}:
 * <pre>
 *   SHARED_PROMPT_BENCH=on mvn -B -q -o test -Dtest=SharedPromptBench
 * </pre>
 * The work a DPO step does with its model on bench-medium's shape (Llama, hidden 512, MLP 1408, 8 layers, 8/4
 * heads, vocabulary 32000; random weights), 2 threads: the reference's scores (no graph) and the policy's scores
 * with their backward, for each batch shape below, with a pair's prompt shared ({@code align4j.shared_prompts=on})
 * and not ({@code off}), alternately in one JVM (the host's drift hits both alike). Full fine-tuning and LoRA r16
 * all-linear (dropout 0.05). Prints medians of ROUNDS (default 9) rounds in seconds, and their ratio per round.
 */
@EnabledIfEnvironmentVariable(named = "SHARED_PROMPT_BENCH", matches = "on")
class SharedPromptBench {
    static {
        Offline.ensure();
    }

    private static final String CONFIG = "{\"model_type\":\"llama\",\"vocab_size\":32000,\"hidden_size\":512,"
            + "\"intermediate_size\":1408,\"num_hidden_layers\":8,\"num_attention_heads\":8,\"num_key_value_heads\":4,"
            + "\"max_position_embeddings\":4096,\"tie_word_embeddings\":false}";

    @Test
    void stepWorkBothWays() throws Exception {
        ModelConfig c = ModelConfig.parse((ObjectNode) new ObjectMapper().readTree(CONFIG), "bench");
        int rounds = Integer.parseInt(System.getenv().getOrDefault("ROUNDS", "9"));
        int[][] shapes = {{8, 64, 64}, {2, 128, 256}, {1, 512, 512}};
        Engine.getInstance(); // loads libtorch
        ai.djl.pytorch.jni.JniUtils.setNumThreads(2);
        for (boolean lora : new boolean[] {false, true}) {
            CausalLM.Options o = lora ? CausalLM.Options.inference() : CausalLM.Options.training();
            try (CausalLM lm = CausalLM.init(c, 7, o.withDevice(Device.cpu()))) {
                if (lora) {
                    lm.addAdapters(LoraConfig.defaults().withR(16).withAlpha(32).withTargetModules(List.of("all-linear")), 1);
                }
                for (int[] shape : shapes) {
                    Batch b = batch(shape[0], shape[1], shape[2]);
                    double[] on = new double[rounds];
                    double[] off = new double[rounds];
                    double[] ratio = new double[rounds];
                    for (int r = -2; r < rounds; r++) {
                        double a = time(lm, b, "on");
                        double z = time(lm, b, "off");
                        if (r >= 0) {
                            on[r] = a;
                            off[r] = z;
                            ratio[r] = a / z;
                        }
                    }
                    System.out.printf("%s %d pairs × (%d + %d): shared %.3f s, separate %.3f s, shared ÷ separate %.3f "
                            + "(per round %.3f–%.3f)%n", lora ? "LoRA" : "full", shape[0], shape[1], shape[2], median(on),
                            median(off), median(ratio), Arrays.stream(ratio).min().orElse(0), Arrays.stream(ratio).max().orElse(0));
                }
            }
        }
    }

    private record Batch(int[][] seqs, int[] starts) {}

    /** Pairs of one prompt and two completions, chosen rows then rejected rows, as the trainer orders them. */
    private static Batch batch(int pairs, int prompt, int completion) {
        Random r = new Random(5);
        int[][] seqs = new int[2 * pairs][];
        int[] starts = new int[2 * pairs];
        for (int i = 0; i < pairs; i++) {
            int[] p = r.ints(prompt, 3, 32000).toArray();
            for (int k = 0; k < 2; k++) {
                int[] s = Arrays.copyOf(p, prompt + completion);
                for (int x = prompt; x < s.length; x++) {
                    s[x] = 3 + r.nextInt(31997);
                }
                seqs[k * pairs + i] = s;
                starts[k * pairs + i] = prompt;
            }
        }
        return new Batch(seqs, starts);
    }

    /** The reference's scores without a graph (the adapters off under LoRA), then the policy's with a backward. */
    private static double time(CausalLM lm, Batch b, String sharing) throws Exception {
        System.setProperty(PromptSharing.PROPERTY, sharing);
        try {
            long t0 = System.nanoTime();
            try (NDManager m = lm.manager().newSubManager()) {
                if (lm.adapterConfig() != null) {
                    try (CausalLM.AdaptersOff off = lm.adaptersDisabled()) {
                        SequenceScorer.score(lm, m, b.seqs(), b.starts()).logps().toFloatArray();
                    }
                } else {
                    SequenceScorer.score(lm, m, b.seqs(), b.starts()).logps().toFloatArray();
                }
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray logps = SequenceScorer.score(lm, m, b.seqs(), b.starts()).logps();
                    lm.backward(logps.sum());
                }
            }
            return (System.nanoTime() - t0) / 1e9;
        } finally {
            System.clearProperty(PromptSharing.PROPERTY);
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
