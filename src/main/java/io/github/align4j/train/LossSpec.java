package io.github.align4j.train;

import io.github.align4j.loss.FDivergence;
import java.util.Map;

/**
 * The objective: which loss, its temperature and options, and how sequences are scored for it.
 *
 * @param type {@code loss_type}: a built-in name or a class name
 * @param weights {@code loss_weights}: loss name → weight, in order (empty: {@code type} alone)
 * @param beta {@code beta}, &gt; 0
 * @param fDivergence {@code f_divergence_type} (f-DPO; {@code REVERSE_KL} is plain DPO)
 * @param fAlphaDivergenceCoef {@code f_alpha_divergence_coef}
 * @param referenceFree {@code reference_free}: the reference's log-probs are taken as 0
 * @param useWeighting {@code use_weighting} (WPO)
 * @param ldAlpha {@code ld_alpha} (LD-DPO; 1: off)
 * @param kwargs {@code loss_kwargs}: more options handed to the loss
 */
public record LossSpec(String type, Map<String, Double> weights, double beta, double labelSmoothing,
        double simpoGamma, double desirableWeight, double undesirableWeight, double discopopTau,
        FDivergence.Type fDivergence, double fAlphaDivergenceCoef, boolean referenceFree, boolean useWeighting,
        double ldAlpha, Map<String, Object> kwargs) {
    public LossSpec {
        weights = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(weights));
        kwargs = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(kwargs));
    }
}
