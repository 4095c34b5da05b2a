package io.github.align4j.loss;

import ai.djl.ndarray.NDArray;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A paired loss without a reference model, TRL's {@code reference_free: true}: the reference's
 * log-probs are taken as 0 (a uniform reference, as in Rafailov et al. 2023, section 4), so the margin
 * is {@code d = πc − πr} and the log-ratios are the policy's log-probs. No reference is loaded or
 * scored. Any loss that reads the reference through {@link PairedLogps} can be wrapped; losses that
 * need no reference ({@code simpo}, {@code sft}) need no wrapping.
 */
public final class ReferenceFree implements PairedLoss {
    /** TRL's option name. */
    public static final String KEY = "reference_free";

    private final PairedLoss inner;

    private ReferenceFree(PairedLoss inner) {
        this.inner = inner;
    }

    /**
     * {@code loss} with the reference's log-probs taken as 0; {@code loss} itself when it uses no reference.
     *
     * @throws io.github.align4j.Align4jException for an unpaired loss (KTO's reference point needs a reference)
     */
    public static PreferenceLoss wrap(PreferenceLoss loss) {
        if (!loss.needsReference()) {
            return loss;
        }
        if (!(loss instanceof PairedLoss p)) {
            throw new io.github.align4j.Align4jException(KEY + " applies to paired losses; loss '" + loss.name()
                    + "' trains on unpaired data against a reference: set reference_free to false");
        }
        return new ReferenceFree(p);
    }

    /** The wrapped loss. */
    public PairedLoss inner() {
        return inner;
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public Map<String, Object> options() {
        Map<String, Object> o = new LinkedHashMap<>(inner.options());
        o.put(KEY, true);
        return o;
    }

    @Override
    public boolean needsReference() {
        return false;
    }

    @Override
    public LossOutput compute(PairedLogps in, double beta) {
        NDArray zero = in.policyChosen().zerosLike().stopGradient();
        return inner.compute(new PairedLogps(in.policyChosen(), in.policyRejected(), zero, zero, in.chosenTokens(),
                in.rejectedTokens()), beta);
    }
}
