package io.github.align4j.eval;

import ai.djl.Device;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.TrainConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** A tiny random model with the demo's tokenizer and review pairs, for fast sweep tests. */
final class SweepFixture {
    private SweepFixture() {}

    /** A 1-layer, hidden-32 random Llama with the demo vocabulary, saved with its tokenizer. */
    static Path model(Path dir) throws Exception {
        DemoCorpus.writeTokenizer(dir);
        String json = DemoCorpus.modelConfigJson(32, 1);
        ModelConfig c = ModelConfig.parse((ObjectNode) new ObjectMapper().readTree(json), "test");
        try (CausalLM lm = CausalLM.init(c, 5, CausalLM.Options.inference().withDevice(Device.cpu()))) {
            lm.save(dir);
        }
        return dir;
    }

    /** Positive reviews chosen over negative ones, for random training prompts. */
    static List<TokenizedPair> pairs(TextTokenizer tok, int n, long seed) {
        Random r = new Random(seed);
        List<TokenizedPair> out = new ArrayList<>();
        List<DemoCorpus.Prompt> prompts = DemoCorpus.trainPrompts();
        for (int i = 0; i < n; i++) {
            DemoCorpus.Prompt p = prompts.get(r.nextInt(prompts.size()));
            out.add(new TokenizedPair(tok.encode(p.text()),
                    withEos(tok.encode("the " + p.product() + " is great .")),
                    withEos(tok.encode("the " + p.product() + " is awful .")), i));
        }
        return out;
    }

    static int[] withEos(int[] ids) {
        int[] out = Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = DemoCorpus.EOS_ID;
        return out;
    }

    static TrainConfig config() {
        return TrainConfig.defaults().with(Map.of("learning_rate", 1e-3, "max_steps", 3, "per_device_train_batch_size", 4,
                "per_device_eval_batch_size", 8, "logging_steps", 1, "device", "cpu", "lr_scheduler_type", "constant"), "test");
    }

    static List<String> heldOutPrompts(int n) {
        return DemoCorpus.heldOutPrompts().stream().limit(n).map(DemoCorpus.Prompt::text).toList();
    }
}
