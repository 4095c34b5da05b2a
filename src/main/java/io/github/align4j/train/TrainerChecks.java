package io.github.align4j.train;

import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.model.CausalLM;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What {@link PreferenceTrainer} checks of its inputs before it builds anything: resume and
 * overwrite, the policy, the training data's kind and the loss's, the reference a precomputed cache
 * needs, and the TRL options that need something of the run (use_weighting, ld_alpha, sync_ref_model).
 */
final class TrainerChecks {
    private TrainerChecks() {}

    /** resume and overwrite, and the output folder a resume needs. */
    static void resume(boolean resume, Boolean overwrite, Path output) {
        if (resume && Boolean.TRUE.equals(overwrite)) {
            throw new Align4jException("resume and overwrite exclude each other: resume continues the run in the output "
                    + "folder, overwrite replaces it");
        }
        if (resume && output == null) {
            throw new Align4jException("resume needs the output folder of the run to continue (Builder.output)");
        }
    }

    /** A policy is given. */
    static void policy(CausalLM policy) {
        if (policy == null) {
            throw new Align4jException("PreferenceTrainer needs a policy");
        }
    }

    /** The policy has weights to train, and the training data is one kind and not empty; returns whether it is pairs. */
    static boolean trainingData(CausalLM policy, List<TokenizedPair> trainPairs, List<TokenizedUnpaired> trainUnpaired) {
        if (!policy.hasTrainableWeights()) {
            throw new Align4jException("the policy has nothing to train: load it with CausalLM.Options.training(), or "
                    + "load a frozen base and add LoRA adapters (CausalLM.addAdapters)");
        }
        boolean paired = trainPairs != null;
        if (paired == (trainUnpaired != null)) {
            throw new Align4jException("give training data as pairs or as unpaired examples (exactly one)");
        }
        if ((paired ? trainPairs.isEmpty() : trainUnpaired.isEmpty())) {
            throw new Align4jException("the training data is empty");
        }
        return paired;
    }

    /** The loss trains on the kind of data given. */
    static void dataKind(PreferenceLoss loss, boolean paired) {
        PreferenceLoss.DataKind kind = paired ? PreferenceLoss.DataKind.PAIRED : PreferenceLoss.DataKind.UNPAIRED;
        if (loss.dataKind() != kind) {
            throw new Align4jException("loss '" + loss.name() + "' trains on " + loss.dataKind().name().toLowerCase()
                    + " data but the training data is " + kind.name().toLowerCase()
                    + (kind == PreferenceLoss.DataKind.PAIRED
                            ? "; convert pairs to unpaired examples for KTO (PreferenceData.toUnpaired) or choose a paired loss"
                            : "; choose an unpaired loss such as kto"));
        }
    }

    /** precompute_ref_log_probs keys its cache by the reference's weights: it needs a reference loaded from a folder. */
    static void precompute(TrainConfig cfg, Reference reference) {
        if (cfg.reference().precompute() && reference.fingerprint() == null) {
            throw new Align4jException("precompute_ref_log_probs needs a reference loaded from a folder "
                    + "(the cache is keyed by its weights)");
        }
    }

    /** use_weighting, ld_alpha and sync_ref_model: what they need, refused clearly where it is missing. */
    static void trlOptions(TrainConfig cfg, PreferenceLoss loss, CausalLM policy, boolean paired) {
        List<String> set = new ArrayList<>();
        if (cfg.lossSpec().useWeighting()) {
            set.add("use_weighting");
        }
        if (cfg.lossSpec().ldAlpha() != 1) {
            set.add("ld_alpha");
        }
        if (cfg.reference().sync()) {
            set.add("sync_ref_model");
        }
        if (set.isEmpty()) {
            return;
        }
        if (!paired) {
            throw new Align4jException(String.join(", ", set) + " " + (set.size() == 1 ? "is an option" : "are options")
                    + " of TRL's DPOTrainer for paired losses; loss '" + loss.name() + "' trains on unpaired examples: "
                    + "turn " + (set.size() == 1 ? "it" : "them") + " off or choose a paired loss");
        }
        if (cfg.lossSpec().ldAlpha() != 1 && cfg.reference().precompute() && loss.needsReference()) {
            throw new Align4jException("ld_alpha (LD-DPO) weighs the reference's tokens by the length of each pair's "
                    + "shorter completion, and the precompute_ref_log_probs cache holds plain sums: turn one of them off");
        }
        if (cfg.reference().sync()) {
            if (!loss.needsReference()) {
                throw new Align4jException("sync_ref_model (TR-DPO) updates the reference, but loss '" + loss.name()
                        + "' uses no reference: turn sync_ref_model off");
            }
            if (cfg.reference().precompute()) {
                throw new Align4jException("sync_ref_model (TR-DPO) changes the reference during training, so its "
                        + "log-probs cannot be precomputed: turn precompute_ref_log_probs off (or sync_ref_model)");
            }
            if (policy.adapterConfig() != null) {
                throw new Align4jException("sync_ref_model (TR-DPO) mixes the policy's weights into the reference, but "
                        + "this policy trains LoRA adapters: by default its reference is its own base with the adapters "
                        + "off, which TR-DPO would change too, and a separate reference would need the merged weights "
                        + "(TRL does not mix a PEFT policy either). Train all weights (use_peft false), or turn "
                        + "sync_ref_model off");
            }
        }
    }
}
