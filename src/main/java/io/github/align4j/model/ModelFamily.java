package io.github.align4j.model;

import ai.djl.ndarray.NDManager;
import java.util.List;
import java.util.Set;

/**
 * One family of decoder architectures, as a strategy: which {@code model_type}s it covers, how it builds
 * its model (config → blocks → model → head, with every tensor registered under its Hugging Face name)
 * and where a checkpoint may keep those tensors. Only a family's own classes know its layout; the
 * loader, the scorer and the trainers see a {@link Decoder}.
 */
interface ModelFamily {
    /** The families of this build; together they cover {@link ModelConfig#SUPPORTED}. */
    List<ModelFamily> ALL = List.of(new LlamaFamily(), new Gpt2Family());

    /** The {@code model_type} values of config.json this family implements. */
    Set<String> modelTypes();

    /** The model, its tensors registered in {@code r} in checkpoint order, without arrays yet. */
    Decoder build(ModelConfig c, Layer.Registry r, NDManager manager);

    /** The names a checkpoint may store tensor {@code name} under, tried in order. */
    default List<String> checkpointNames(String name) {
        return List.of(name);
    }

    /** PEFT's default {@code target_modules} for this family (its TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
    List<String> defaultLoraTargets();

    /** The family of a parsed config (its {@code model_type} was checked when it was parsed). */
    static ModelFamily of(ModelConfig c) {
        for (ModelFamily f : ALL) {
            if (f.modelTypes().contains(c.modelType())) {
                return f;
            }
        }
        throw new IllegalStateException("no model family implements model_type '" + c.modelType() + "'");
    }
}
