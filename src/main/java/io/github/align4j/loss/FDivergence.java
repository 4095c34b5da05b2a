package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import io.github.align4j.Align4jException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * DPO under another f-divergence (Wang et al. 2023, "Beyond Reverse KL: Generalizing Direct Preference
 * Optimization with Diverse Divergence Constraints"), TRL's {@code f_divergence_type}: the loss sees
 * the score f′(π/ρ) of each completion in place of its log-ratio r = π − ρ (constants dropped, as TRL):
 * <ul>
 *   <li>{@code reverse_kl}: r (plain DPO);</li>
 *   <li>{@code forward_kl}: −exp(−r);</li>
 *   <li>{@code js_divergence}: logσ(r);</li>
 *   <li>{@code alpha_divergence}: exp((α − 1)·r)/(α − 1), α = {@code f_alpha_divergence_coef}
 *       ((α − 1)·r capped at 80 before exp, as TRL in float32; α = 1 is reverse KL).</li>
 * </ul>
 * It wraps a loss that is a function of the two scores alone (their difference, or each score):
 * dpo, hinge, ipo, robust, exo_pair, nca_pair, bco_pair, sppo_hard, discopop, sigmoid_norm. Losses that
 * read raw log-probs or log-ratios besides the scores (aot, aot_unpaired, apo_zero, apo_down, kto_pair,
 * simpo, sft, unpaired and custom losses) are refused rather than silently left as they are.
 */
public final class FDivergence implements PairedLoss {
    /** The divergences TRL names. */
    public enum Type {
        REVERSE_KL, FORWARD_KL, JS_DIVERGENCE, ALPHA_DIVERGENCE;

        /** TRL's name, e.g. {@code js_divergence}. */
        public String trlName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** The type named by TRL's {@code f_divergence_type} value. */
        public static Type of(String name) {
            for (Type t : values()) {
                if (t.trlName().equals(name == null ? "" : name.trim())) {
                    return t;
                }
            }
            throw new Align4jException("f_divergence_type: '" + name + "' is not one of reverse_kl, forward_kl,"
                    + " js_divergence, alpha_divergence.");
        }
    }

    /** TRL's option names. */
    public static final String TYPE_KEY = "f_divergence_type";
    public static final String ALPHA_KEY = "f_alpha_divergence_coef";

    private static final Set<String> SCORE_LOSSES = Set.of("dpo", "hinge", "ipo", "robust", "exo_pair", "nca_pair",
            "bco_pair", "sppo_hard", "discopop", "sigmoid_norm");
    private static final float ALPHA_EXP_CAP = 80f;

    private final PairedLoss inner;
    private final Type type;
    private final double alpha;

    private FDivergence(PairedLoss inner, Type type, double alpha) {
        this.inner = inner;
        this.type = type;
        this.alpha = alpha;
    }

    /**
     * {@code loss} under divergence {@code type}; {@code loss} itself for reverse KL (and for α = 1).
     *
     * @param alpha α of the alpha divergence (TRL's {@code f_alpha_divergence_coef}, default 1); finite
     */
    public static PreferenceLoss wrap(PreferenceLoss loss, Type type, double alpha) {
        if (!Double.isFinite(alpha)) {
            throw new Align4jException(ALPHA_KEY + "=" + alpha + " must be a finite number (default 1.0).");
        }
        if (type == Type.REVERSE_KL || (type == Type.ALPHA_DIVERGENCE && Math.abs(alpha - 1) < 1e-6)) {
            return loss;
        }
        if (!(loss instanceof PairedLoss p) || !SCORE_LOSSES.contains(loss.name()) || !loss.getClass().getPackage()
                .equals(FDivergence.class.getPackage())) {
            throw new Align4jException(TYPE_KEY + "=" + type.trlName() + " does not apply to loss '" + loss.name()
                    + "': it reads the log-ratios directly. Use it with one of " + String.join(", ", new java.util.TreeSet<>(SCORE_LOSSES))
                    + ", or set " + TYPE_KEY + " to reverse_kl (the default).");
        }
        return new FDivergence(p, type, alpha);
    }

    /** The score f′ of log-ratios {@code r}. */
    NDArray score(NDArray r) {
        return switch (type) {
            case REVERSE_KL -> r;
            case FORWARD_KL -> r.neg().exp().neg();
            case JS_DIVERGENCE -> Ops.logSigmoid(r);
            case ALPHA_DIVERGENCE -> Ops.scale(Scalars.minimum(Ops.scale(r, alpha - 1), ALPHA_EXP_CAP).exp(), 1 / (alpha - 1));
        };
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public Map<String, Object> options() {
        Map<String, Object> o = new LinkedHashMap<>(inner.options());
        o.put(TYPE_KEY, type.trlName());
        if (type == Type.ALPHA_DIVERGENCE) {
            o.put(ALPHA_KEY, alpha);
        }
        return o;
    }

    /** The wrapped loss. */
    public PairedLoss inner() {
        return inner;
    }

    public Type type() {
        return type;
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray chosen = score(in.chosenRatio());
        NDArray rejected = score(in.rejectedRatio());
        NDArray zero = chosen.zerosLike();
        return inner.compute(new PairedLogps(chosen, rejected, zero, zero, in.chosenTokens(), in.rejectedTokens()), beta);
    }
}
