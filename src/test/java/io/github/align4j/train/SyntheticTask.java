package io.github.align4j.train;

import ai.djl.Device;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A preference a tiny model can learn in a few dozen steps: chosen completions use tokens 4–11,
 * rejected ones tokens 12–19, after random prompts of tokens 20–31. EOS is 2.
 */
final class SyntheticTask {
    static final int EOS = 2;

    private SyntheticTask() {}

    static ModelConfig config() throws Exception {
        String json = "{\"model_type\":\"llama\",\"vocab_size\":32,\"hidden_size\":32,\"intermediate_size\":64,"
                + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"rms_norm_eps\":1e-5,"
                + "\"tie_word_embeddings\":false,\"eos_token_id\":2,\"bos_token_id\":1}";
        return ModelConfig.parse((ObjectNode) new ObjectMapper().readTree(json), "synthetic");
    }

    /** A random model saved to dir (so that it can serve as a reference folder). */
    static Path model(Path dir, long seed) throws Exception {
        try (CausalLM lm = CausalLM.init(config(), seed, CausalLM.Options.inference().withDevice(Device.cpu()))) {
            lm.save(dir);
        }
        return dir;
    }

    static List<TokenizedPair> pairs(int n, long seed) {
        Random r = new Random(seed);
        List<TokenizedPair> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new TokenizedPair(tokens(r, 3 + r.nextInt(4), 20, 31, false),
                    tokens(r, 2 + r.nextInt(4), 4, 11, true), tokens(r, 2 + r.nextInt(4), 12, 19, true), i));
        }
        return out;
    }

    static List<TokenizedUnpaired> unpaired(List<TokenizedPair> pairs, long seed) {
        List<TokenizedUnpaired> out = new ArrayList<>();
        for (TokenizedPair p : pairs) {
            out.add(new TokenizedUnpaired(p.prompt(), p.chosen(), true, p.row()));
            out.add(new TokenizedUnpaired(p.prompt(), p.rejected(), false, p.row()));
        }
        java.util.Collections.shuffle(out, new Random(seed));
        return out;
    }

    private static int[] tokens(Random r, int n, int lo, int hi, boolean eos) {
        int[] t = new int[n + (eos ? 1 : 0)];
        for (int i = 0; i < n; i++) {
            t[i] = lo + r.nextInt(hi - lo + 1);
        }
        if (eos) {
            t[n] = EOS;
        }
        return t;
    }
}
