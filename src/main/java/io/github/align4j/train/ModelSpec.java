package io.github.align4j.train;

/**
 * The policy and how it is held.
 *
 * @param path {@code model_name_or_path}: the policy's Hugging Face folder ("" when the policy is given as an object)
 * @param torchDtype {@code torch_dtype}: the frozen weights' type
 * @param device {@code device}
 * @param gradientCheckpointing {@code gradient_checkpointing}: keep each decoder layer's input only and recompute the
 *     layer in the backward pass
 */
public record ModelSpec(String path, TorchDtype torchDtype, DeviceSpec device, boolean gradientCheckpointing) {}
