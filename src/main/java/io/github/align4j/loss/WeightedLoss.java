package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import io.github.align4j.Align4jException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * A weighted sum of losses, {@code L = Σ w_k·mean(L_k)}; e.g. RPO (Pang et al. 2024) is
 * {@code dpo + α·sft}. All parts must train on the same kind of data: {@link #of} returns a
 * {@link PairedLoss} when every part is paired and an {@link UnpairedLoss} when every part is
 * unpaired, and refuses a mix.
 *
 * <p>Per-example losses are {@code Σ w_k L_k[i]} when all parts return the same number of losses
 * (so their mean is L); otherwise a single loss L. Metrics of all parts are merged (a name used by
 * two parts is prefixed with the part's name and a slash), plus {@code loss/<name>}: each part's
 * unweighted mean loss.
 */
public abstract sealed class WeightedLoss permits WeightedLoss.Paired, WeightedLoss.Unpaired {

    /** One weighted part. */
    public record Term(PreferenceLoss loss, double weight) {
        public Term {
            if (loss == null) {
                throw new IllegalArgumentException("loss is null");
            }
            if (!(weight > 0 && Double.isFinite(weight))) {
                throw new Align4jException("Loss weight " + loss.name() + "=" + weight
                        + " must be a finite number > 0: fix it in --loss-weights (e.g. dpo=1,sft=0.5).");
            }
        }
    }

    private final List<Term> terms;

    private WeightedLoss(List<Term> terms) {
        this.terms = List.copyOf(terms);
    }

    /**
     * @param terms the parts, at least one, all paired or all unpaired
     * @return a {@link Paired} or an {@link Unpaired} combination
     */
    public static PreferenceLoss of(List<Term> terms) {
        if (terms.isEmpty()) {
            throw new Align4jException("A weighted loss needs at least one part: give --loss-weights like dpo=1,sft=0.5.");
        }
        long paired = terms.stream().filter(t -> t.loss() instanceof PairedLoss).count();
        if (paired == terms.size()) {
            return new Paired(terms);
        }
        if (paired == 0) {
            return new Unpaired(terms);
        }
        StringBuilder kinds = new StringBuilder();
        for (Term t : terms) {
            kinds.append(kinds.length() == 0 ? "" : ", ").append(t.loss().name()).append(" (")
                    .append(t.loss().dataKind().name().toLowerCase(Locale.ROOT)).append(')');
        }
        throw new Align4jException("Cannot combine paired and unpaired losses in one weighted loss: " + kinds
                + ". Use only paired losses (dpo, sft, ...) or only unpaired ones (kto) in --loss-weights.");
    }

    public List<Term> terms() {
        return terms;
    }

    /** E.g. {@code dpo+0.5*sft}. */
    public String name() {
        StringBuilder sb = new StringBuilder();
        for (Term t : terms) {
            sb.append(sb.length() == 0 ? "" : "+");
            if (t.weight() != 1) {
                sb.append(BigDecimal.valueOf(t.weight()).stripTrailingZeros().toPlainString()).append('*');
            }
            sb.append(t.loss().name());
        }
        return sb.toString();
    }

    /** Every part's options, merged (a key two parts read holds the same value in both). */
    public Map<String, Object> options() {
        Map<String, Object> m = new LinkedHashMap<>();
        terms.forEach(t -> m.putAll(t.loss().options()));
        return m;
    }

    public boolean needsReference() {
        return terms.stream().anyMatch(t -> t.loss().needsReference());
    }

    @Override
    public String toString() {
        return name();
    }

    LossOutput combine(Function<PreferenceLoss, LossOutput> compute) {
        List<LossOutput> outs = new ArrayList<>();
        for (Term t : terms) {
            outs.add(compute.apply(t.loss()));
        }
        long n = outs.get(0).losses().size();
        boolean sameLength = outs.stream().allMatch(o -> o.losses().size() == n);
        NDArray total = null;
        Map<String, NDArray> metrics = new LinkedHashMap<>();
        for (int k = 0; k < terms.size(); k++) {
            Term t = terms.get(k);
            NDArray losses = outs.get(k).losses();
            NDArray part = Ops.scale(sameLength ? losses : losses.mean().reshape(1), t.weight());
            total = total == null ? part : total.add(part);
            String name = t.loss().name();
            metrics.putIfAbsent("loss/" + name, losses.mean().stopGradient());
            outs.get(k).metrics().forEach((key, v) -> {
                if (metrics.putIfAbsent(key, v) != null) {
                    metrics.putIfAbsent(name + "/" + key, v);
                }
            });
        }
        return new LossOutput(total, metrics);
    }

    /** A weighted sum of paired losses. */
    public static final class Paired extends WeightedLoss implements PairedLoss {
        private Paired(List<Term> terms) {
            super(terms);
        }

        @Override
        public LossOutput compute(PairedLogps in, double beta) {
            return combine(l -> ((PairedLoss) l).compute(in, beta));
        }
    }

    /** A weighted sum of unpaired losses (e.g. a scaled {@code kto}). */
    public static final class Unpaired extends WeightedLoss implements UnpairedLoss {
        private Unpaired(List<Term> terms) {
            super(terms);
        }

        @Override
        public boolean needsMismatchedPairs() {
            return terms().stream().anyMatch(t -> ((UnpairedLoss) t.loss()).needsMismatchedPairs());
        }

        @Override
        public LossOutput compute(UnpairedLogps in, double beta) {
            return combine(l -> ((UnpairedLoss) l).compute(in, beta));
        }
    }
}
