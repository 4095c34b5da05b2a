package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;

/**
 * Paired KTO as in TRL 0.7.x ({@code loss_type=kto_pair}), the variant the Hugging Face
 * DPO/IPO/KTO study ran; after Ethayarajh et al. 2024 ("KTO: Model Alignment as Prospect Theoretic
 * Optimization"). With cl = πc − ρc and rl = πr − ρr, the KL reference points are batch means,
 * KLc = max(0, mean(cl)) and KLr = max(0, mean(rl)), and each chosen completion is scored against
 * the rejected half's KL and vice versa: {@code 1 − σ(β(cl − KLr))} for the B chosen and
 * {@code 1 − σ(β(KLc − rl))} for the B rejected completions, 2B losses in all.
 *
 * <p>Difference from TRL 0.7: the KL estimates are detached (no gradient flows through them), as
 * the KTO paper and TRL's later {@code KTOTrainer} do; TRL 0.7 let gradients through.
 */
public final class KtoPair implements PairedLoss {
    @Override
    public String name() {
        return "kto_pair";
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray cl = in.chosenRatio();
        NDArray rl = in.rejectedRatio();
        NDArray klChosen = cl.mean().stopGradient().maximum(0f); // detached: nothing kept for backward
        NDArray klRejected = rl.mean().stopGradient().maximum(0f);
        NDArray chosen = Ops.oneMinus(Activation.sigmoid(Ops.scale(cl.sub(klRejected), beta)));
        NDArray rejected = Ops.oneMinus(Activation.sigmoid(Ops.scale(rl.neg().add(klChosen), beta)));
        return LossOutput.of(chosen.concat(rejected));
    }
}
