package com.example;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import io.github.align4j.loss.LossOutput;
import io.github.align4j.loss.PairedLogps;
import io.github.align4j.loss.PairedLoss;
import io.github.align4j.loss.Scalars;
import java.util.Map;

/** A user-defined loss: a smooth hinge on DPO's margin, softplus(1 − β·d). */
public class SoftHingeLoss implements PairedLoss {
    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray z = Scalars.times(in.margin(), beta); // not margin().mul(beta): see Scalars
        NDArray losses = Activation.softPlus(z.neg().add(1f));
        return new LossOutput(losses, Map.of("soft_hinge/margin", z.mean()));
    }

    @Override
    public String name() {
        return "soft_hinge";
    }
}
