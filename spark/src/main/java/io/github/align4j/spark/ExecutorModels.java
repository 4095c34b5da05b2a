package io.github.align4j.spark;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.model.CausalLM;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.LoggerFactory;

/** The frozen models of one executor JVM, loaded once (base + optional adapter, per device) and reused by its tasks. */
final class ExecutorModels {
    private static final Map<String, CausalLM> MODELS = new ConcurrentHashMap<>();

    private ExecutorModels() {}

    /**
     * The model at {@code model} (with the LoRA adapter at {@code adapter}, or null) on {@code device}, loaded frozen in
     * float32 on first use in this JVM.
     *
     * @param job the job's name, for the log line ("logprobs", "generate")
     */
    static CausalLM get(String model, String adapter, Device device, String job) {
        return MODELS.computeIfAbsent(model + "|" + adapter + "|" + device, k -> {
            CausalLM lm = CausalLM.load(Path.of(model), new CausalLM.Options(device, false, DataType.FLOAT32));
            if (adapter != null) {
                try {
                    lm.loadAdapter(Path.of(adapter), false);
                } catch (RuntimeException e) {
                    lm.close();
                    throw e;
                }
            }
            LoggerFactory.getLogger(ExecutorModels.class).info("{}: loaded {} on {} in executor pid {}", job, model, device,
                    ProcessHandle.current().pid());
            return lm;
        });
    }
}
