package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import java.util.Map;

/**
 * Paired KTO as in TRL 0.7.x ({@code loss_type=kto_pair}), the variant the Hugging Face
 * DPO/IPO/KTO study ran; after Ethayarajh et al. 2024 ("KTO: Model Alignment as Prospect Theoretic
 * Optimization"). With cl = πc − ρc and rl = πr − ρr, the KL reference points are batch means,
 * KLc = max(0, mean(cl)) and KLr = max(0, mean(rl)), and each chosen completion is scored against
 * the rejected half's KL and vice versa: {@code 1 − σ(β(cl − KLr))} for the B chosen and
 * {@code 1 − σ(β(KLc − rl))} for the B rejected completions, 2B losses in all.
 *
 * <p>Option {@code kl_detach}: {@code true} (the default) detaches the KL estimates (no gradient
 * flows through them), as the KTO paper and TRL's later {@code KTOTrainer} do, and as align4j
 * always did: runs, resumes and the demo's published numbers stay reproducible. {@code false} is
 * TRL 0.7's form, as the blog ran it: gradient flows through the KL estimates
 * ({@code clamp(min=0)} of the batch mean), so every chosen log-ratio also moves the rejected
 * losses while the mean is ≥ 0; {@code recipes/pref-align-scan/} sets it. The two forms have the
 * same loss values and part in gradient from the first step where a batch's mean log-ratio is ≥ 0.
 */
public final class KtoPair implements PairedLoss {
    /** Detached KL terms, as the KTO paper (set false for TRL 0.7.x's form). */
    public static final boolean DEFAULT_KL_DETACH = true;

    private final boolean klDetach;

    /** Detached KL terms ({@code kl_detach=true}). */
    public KtoPair() {
        this(DEFAULT_KL_DETACH);
    }

    /** @param klDetach true: no gradient through the KL estimates; false: TRL 0.7.x's form */
    public KtoPair(boolean klDetach) {
        this.klDetach = klDetach;
    }

    public boolean klDetach() {
        return klDetach;
    }

    @Override
    public String name() {
        return "kto_pair";
    }

    @Override
    public Map<String, Object> options() {
        return Map.of(Losses.KL_DETACH, klDetach);
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray cl = in.chosenRatio();
        NDArray rl = in.rejectedRatio();
        NDArray klChosen = kl(cl);
        NDArray klRejected = kl(rl);
        NDArray chosen = Ops.oneMinus(Activation.sigmoid(Ops.scale(cl.sub(klRejected), beta)));
        NDArray rejected = Ops.oneMinus(Activation.sigmoid(Ops.scale(rl.neg().add(klChosen), beta)));
        return LossOutput.of(chosen.concat(rejected));
    }

    /**
     * max(0, mean(ratio)). Detached: no backward at all. Not detached: PyTorch's
     * {@code clamp(min=0)}, whose gradient passes where the mean is ≥ 0 (at exactly 0 too, as on the
     * first step, where policy = reference), computed as mean · [mean ≥ 0] with the mask a constant.
     */
    private NDArray kl(NDArray ratio) {
        NDArray mean = ratio.mean();
        if (klDetach) {
            return mean.stopGradient().maximum(0f); // maximum keeps nothing for backward here
        }
        NDArray open = mean.stopGradient().gte(0f).toType(mean.getDataType(), false);
        return mean.mul(open);
    }
}
