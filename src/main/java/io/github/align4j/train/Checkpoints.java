package io.github.align4j.train;

import ai.djl.ndarray.NDArray;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.SafeTensors;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Checkpoints as transformers names them ({@code OUTPUT/checkpoint-<step>/}, {@code OUTPUT/final/}):
 * the policy in Hugging Face format plus {@code optimizer.safetensors} (AdamW moments) and
 * {@code trainer_state.json}. Each is written into a temporary folder and renamed into place, so
 * a crash never leaves a half-written checkpoint under a real name.
 */
final class Checkpoints {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Checkpoints() {}

    static Path save(Path output, String name, CausalLM policy, Path tokenizerDir, AdamW optimizer, TrainConfig cfg,
            List<Map<String, Object>> history) {
        Path target = output.resolve(name);
        Path tmp = output.resolve("." + name + ".tmp");
        try {
            Files.createDirectories(output);
            deleteTree(tmp);
            Files.createDirectories(tmp);
            policy.save(tmp, tokenizerDir, 5_000_000_000L);
            if (optimizer != null) {
                List<SafeTensors.Entry> entries = new ArrayList<>();
                addMoments(entries, "exp_avg.", optimizer.firstMoments());
                addMoments(entries, "exp_avg_sq.", optimizer.secondMoments());
                Path opt = tmp.resolve(".optimizer");
                SafeTensors.write(opt, entries, SafeTensors.DType.F32, Long.MAX_VALUE); // writes opt/model.safetensors
                Files.move(opt.resolve("model.safetensors"), tmp.resolve("optimizer.safetensors"));
                deleteTree(opt);
            }
            ObjectNode state = JSON.createObjectNode();
            state.put("global_step", optimizer == null ? 0 : optimizer.steps());
            state.set("config", JSON.valueToTree(cfg.asMap()));
            state.set("log_history", JSON.valueToTree(history));
            Files.write(tmp.resolve("trainer_state.json"), JSON.writeValueAsBytes(state));
            Path old = null;
            if (Files.exists(target)) {
                old = output.resolve("." + name + ".old");
                deleteTree(old);
                Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            if (old != null) {
                deleteTree(old);
            }
            return target;
        } catch (IOException e) {
            throw new Align4jException(target + ": cannot write the checkpoint: " + e.getMessage()
                    + ". The previous checkpoint is untouched.", e);
        }
    }

    private static void addMoments(List<SafeTensors.Entry> entries, String prefix, Map<String, NDArray> moments) {
        moments.forEach((k, a) -> entries.add(new SafeTensors.Entry(prefix + k, a.getShape().getShape(),
                () -> a.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN))));
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }
}
