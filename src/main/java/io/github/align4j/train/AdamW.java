package io.github.align4j.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
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
        step(lr, 1f);
    }

    /**
     * One update with learning rate lr from the parameters' current gradients times
     * {@code gradScale} (the clipping coefficient; the gradients themselves are not modified).
     *
     * <p>Each parameter takes one native call: libtorch's fused Adam kernel as DJL exposes it
     * ({@code m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², θ ← θ − α·m / (√v + ε')}), with torch's bias
     * correction folded into its constants: {@code α = lr·√c2 / c1} and {@code ε' = ε·√c2} give
     * exactly {@code θ − (lr/c1)·m / (√v/√c2 + ε)}. Its coupled (L2) decay is off; the decoupled
     * decay is applied first, as torch.optim.AdamW does. Compared with one DJL call per elementwise
     * operation this saves about a dozen JNI calls and Java wrappers per parameter and two full
     * passes over the weights' memory.
     */
    void step(double lr, float gradScale) {
        step++;
        double c1 = 1 - Math.pow(beta1, step);
        double sqrtC2 = Math.sqrt(1 - Math.pow(beta2, step));
        float alpha = (float) (lr * sqrtC2 / c1);
        float epsHat = (float) (eps * sqrtC2);
        float keep = 1 - (float) lr * weightDecay;
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            PtNDArray p = (PtNDArray) e.getValue();
            if (weightDecay != 0 && decays(e.getKey())) {
                p.muli(keep); // in place: θ ← θ·(1 − lr·λ)
            }
            try (NDArray g = p.getGradient()) {
                NDArray mean = m.get(e.getKey());
                NDArray var = v.get(e.getKey());
                long rows = sliceRows(p);
                if (rows == 0) {
                    update(p, g, mean, var, (float) lr, alpha, gradScale, epsHat);
                    continue;
                }
                long n = p.getShape().get(0);
                for (long start = 0; start < n; start += rows) {
                    NDIndex slice = new NDIndex("{}:{}", start, Math.min(n, start + rows));
                    NDArray ps = p.get(slice);
                    NDArray gs = g.get(slice);
                    NDArray ms = mean.get(slice);
                    NDArray vs = var.get(slice);
                    update(ps, gs, ms, vs, (float) lr, alpha, gradScale, epsHat); // views: in place in the whole
                    ps.close();
                    gs.close();
                    ms.close();
                    vs.close();
                }
            }
        }
    }

    /**
     * Bytes of a parameter updated at once (16 MiB). The fused update makes five temporaries the size of what it
     * updates (the gradient's copy, lr·m, √v, √v + ε, the quotient); for a matrix above glibc's mmap threshold (at most
     * 32 MiB: a 32,000 × 512 embedding is 65 MB) each is a fresh mapping every step, every page faulted in and zeroed
     * again, so larger matrices are updated in slices of whole rows (views: the same arithmetic on the same values).
     */
    static long sliceBytes = 16L << 20;

    /** Rows per slice for parameter p, or 0 to update it at once. */
    static long sliceRows(NDArray p) {
        long bytes = p.size() * p.getDataType().getNumOfBytes();
        if (bytes <= sliceBytes || p.getShape().dimension() < 2) {
            return 0;
        }
        long rowBytes = bytes / p.getShape().get(0);
        return Math.max(1, sliceBytes / rowBytes);
    }

    private void update(NDArray p, NDArray g, NDArray mean, NDArray var, float lr, float alpha, float gradScale,
            float epsHat) {
        // (weight, grad, mean, variance, lr (decay only), lr with bias correction, weight decay,
        //  rescale grad, clip grad (< 0: off), beta1, beta2, eps, decoupled decay)
        JniUtils.adamUpdate((PtNDArray) p, (PtNDArray) g, (PtNDArray) mean, (PtNDArray) var, lr, alpha, 0f, gradScale,
                -1f, beta1, beta2, epsHat, false);
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

    /** Sets the updates done so far (bias correction) after the moments were copied in from a checkpoint. */
    void restoreSteps(long steps) {
        this.step = steps;
    }

    /** Frees the moments (they live on the model's manager, which may outlive this optimizer). */
    void close() {
        m.values().forEach(NDArray::close);
        v.values().forEach(NDArray::close);
        m.clear();
        v.clear();
    }
}
