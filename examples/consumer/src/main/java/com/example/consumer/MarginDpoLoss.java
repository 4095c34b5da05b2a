package com.example.consumer;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import io.github.align4j.loss.LossOutput;
import io.github.align4j.loss.PairedLogps;
import io.github.align4j.loss.PairedLoss;
import io.github.align4j.loss.Scalars;
import java.util.Map;

/**
 * An application's own loss: DPO that asks the chosen completion to win by a target margin m,
 * {@code −log σ(β·(d − m)) = softplus(β·m − β·d)} with d the DPO margin (policy − reference log-ratio
 * difference). Its option {@code target_margin} comes from the recipe's {@code loss_kwargs:}.
 */
public final class MarginDpoLoss implements PairedLoss {
    private final double targetMargin;

    /** align4j hands over the recipe's loss options (numbers as Double). */
    public MarginDpoLoss(Map<String, Object> options) {
        Object m = options.getOrDefault("target_margin", 0.0);
        if (!(m instanceof Number n)) {
            throw new IllegalArgumentException("target_margin must be a number, got " + m);
        }
        this.targetMargin = n.doubleValue();
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray d = in.margin();
        NDArray losses = Activation.softPlus(Scalars.times(d, -beta).add(Scalars.of(d, beta * targetMargin)));
        return LossOutput.of(losses);
    }

    @Override
    public String name() {
        return "margin_dpo";
    }

    @Override
    public Map<String, Object> options() {
        return Map.of("target_margin", targetMargin);
    }
}
