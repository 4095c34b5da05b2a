package io.github.align4j.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdamW (Loshchilov and Hutter 2019) as {@code torch.optim.AdamW}, with the state we need to
 * resume: decoupled weight decay {@code θ ← θ·(1 − lr·λ)} applied only to parameters that
 * {@link #decays(String)} (not biases or norm weights), then
 * {@code m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², θ ← θ − lr·m̂ / (√v̂ + ε)} with bias-corrected
 * m̂, v̂. DJL's own AdamW decays every parameter and keeps its moments private.
 */
final class AdamW {
    private final Map<String, NDArray> params;
    private final Map<String, NDArray> m = new LinkedHashMap<>();
    private final Map<String, NDArray> v = new LinkedHashMap<>();
    private final float beta1;
    private final float beta2;
    private final float eps;
    private final float weightDecay;
    private long step;

    AdamW(Map<String, NDArray> params, double beta1, double beta2, double eps, double weightDecay) {
        this.params = params;
        this.beta1 = (float) beta1;
        this.beta2 = (float) beta2;
        this.eps = (float) eps;
        this.weightDecay = (float) weightDecay;
        params.forEach((name, p) -> { // created eagerly and outside any step scope
            NDArray zm = p.zerosLike();
            NDArray zv = p.zerosLike();
            NDScope.unregister(zm, zv);
            m.put(name, zm);
            v.put(name, zv);
        });
    }

    /** HF Trainer's rule: no decay for biases and norm weights. */
    static boolean decays(String name) {
        return !(name.endsWith(".bias") || name.contains("norm") || name.contains(".ln_") || name.contains("ln_f."));
    }

    /** One update with learning rate lr from the parameters' current gradients. */
    void step(double lr) {
        step++;
        float c1 = (float) (1 - Math.pow(beta1, step));
        float c2 = (float) (1 - Math.pow(beta2, step));
        float stepSize = (float) (lr / c1);
        float sqrtC2 = (float) Math.sqrt(c2);
        try (NDScope scope = new NDScope()) {
            for (Map.Entry<String, NDArray> e : params.entrySet()) {
                NDArray p = e.getValue();
                NDArray g = p.getGradient();
                NDArray mi = m.get(e.getKey());
                NDArray vi = v.get(e.getKey());
                if (weightDecay != 0 && decays(e.getKey())) {
                    p.muli(1 - (float) lr * weightDecay);
                }
                mi.muli(beta1).addi(g.mul(1 - beta1));
                vi.muli(beta2).addi(g.square().muli(1 - beta2));
                NDArray denom = vi.sqrt().divi(sqrtC2).addi(eps);
                p.subi(mi.div(denom).muli(stepSize));
            }
        }
    }

    /** Updates done so far. */
    long steps() {
        return step;
    }

    Map<String, NDArray> firstMoments() {
        return m;
    }

    Map<String, NDArray> secondMoments() {
        return v;
    }

    /** Restores the state saved with a checkpoint. */
    void restore(long steps, Map<String, float[]> first, Map<String, float[]> second) {
        this.step = steps;
        for (String k : m.keySet()) {
            m.get(k).set(first.get(k));
            v.get(k).set(second.get(k));
        }
    }

    /** Sets the updates done so far (bias correction) after the moments were copied in from a checkpoint. */
    void restoreSteps(long steps) {
        this.step = steps;
    }
}
