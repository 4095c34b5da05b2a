package io.github.align4j.train;

/**
 * The frozen reference model.
 *
 * @param path {@code ref_model}: its folder ("" : a frozen copy of the policy, or the LoRA base with adapters off)
 * @param logpsFile {@code ref_logps_file}: its log-probs per data row, computed elsewhere ("" : none)
 * @param precompute {@code precompute_ref_log_probs}: score it once and cache the result on disk
 * @param sync {@code sync_ref_model} (TR-DPO): every {@code syncSteps} steps it becomes
 *     {@code mixupAlpha·policy + (1−mixupAlpha)·reference}
 * @param mixupAlpha {@code ref_model_mixup_alpha}, in (0, 1]
 * @param syncSteps {@code ref_model_sync_steps}, ≥ 1
 */
public record ReferenceSpec(String path, String logpsFile, boolean precompute, boolean sync, double mixupAlpha,
        int syncSteps) {}
