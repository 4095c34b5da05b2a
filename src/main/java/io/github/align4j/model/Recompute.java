package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.ArrayList;
import java.util.List;

/**
 * Gradient checkpointing (activation recomputation) for one decoder, layer by layer, since DJL has
 * no checkpoint function.
 *
 * <p>Forward of a training pass: the embedding runs with a graph; every decoder layer runs with
 * grad mode off and only its input x_l is kept; the last layer's output x_L becomes a leaf that
 * requires a gradient, so the final norm, head and loss build their graph from there.
 *
 * <p>{@link #backward}: the loss's backward stops at x_L and leaves g = ∂loss/∂x_L there. Then,
 * for each pending pass (last forward first) and each layer l from last to first, the layer is
 * recomputed with a graph from x_l (a leaf) with the pass's own {@link Pass} (so LoRA dropout draws
 * the same masks) and back-propagated with g as the output's gradient, which fills the layer's
 * parameter gradients and x_l's gradient, the g of layer l−1. The layer's graph is gone once its
 * backward returns and x_l, y and the old g are freed at once, so at most one layer's activations
 * are alive. Last, g₀ flows into the embedding when it takes gradients (full fine-tuning).
 */
final class Recompute {
    private final Decoder decoder;
    /** Checkpointed passes since the last backward, in forward order. */
    private final List<Saved> pending = new ArrayList<>();

    /**
     * One checkpointed pass.
     *
     * @param adaptersOn whether the adapters were on in the forward pass (replayed the same)
     * @param embedded the embedding output with its graph when it takes gradients, else null
     * @param inputs each layer's input; inputs[0] is a graph-free view of the embedding output
     * @param last the last layer's output, the leaf the loss's backward stops at
     */
    private record Saved(Pass pass, boolean adaptersOn, Object shared, NDArray embedded, NDArray[] inputs, NDArray last) {}

    Recompute(Decoder decoder) {
        this.decoder = decoder;
    }

    /** Embeddings → blocks without a graph → final norm with one, keeping only each layer's input. */
    NDArray forward(NDArray ids, Pass p) {
        int n = decoder.layerCount();
        if (n == 0) {
            return decoder.forward(ids, p);
        }
        dropStale();
        Object shared = decoder.shared(p);
        NDArray embedded = decoder.embedding(ids, p);
        // a trainable embedding (full fine-tuning) takes g₀ at the end. Asked of its weights, which are leaves: for
        // an op's output DJL's requiresGrad answers false even when the output has a graph.
        boolean intoEmbedding = false;
        for (ai.djl.nn.Parameter w : decoder.embeddings()) {
            intoEmbedding |= JniUtils.requiresGrad((PtNDArray) w.getArray());
        }
        NDArray[] inputs = new NDArray[n];
        inputs[0] = intoEmbedding ? embedded.stopGradient() : embedded;
        NDArray x;
        boolean grad = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try {
            x = decoder.layer(0, inputs[0], p, shared);
            for (int i = 1; i < n; i++) {
                inputs[i] = x;
                x = decoder.layer(i, x, p, shared);
            }
        } finally {
            JniUtils.setGradMode(grad);
        }
        x.setRequiresGradient(true);
        Adapters a = decoder.adapters;
        pending.add(new Saved(p, a != null && a.enabled, shared, intoEmbedding ? embedded : null, inputs, x));
        return decoder.finalNorm(x);
    }

    /** Backward of {@code loss} (a scalar), then of every pending pass's layers, last pass first. */
    void backward(NDArray loss) {
        boolean grad = JniUtils.isGradMode();
        JniUtils.setGradMode(true);
        try {
            try (NDArray ones = loss.onesLike()) {
                JniUtils.backward((PtNDArray) loss, (PtNDArray) ones, false, false);
            }
            dropStale();
            for (int s = pending.size() - 1; s >= 0; s--) {
                replay(pending.get(s));
            }
        } finally {
            for (Saved s : pending) { // freed already unless a replay failed
                free(s);
            }
            pending.clear();
            JniUtils.setGradMode(grad);
        }
    }

    /** Passes waiting for their layers' backward. */
    int pending() {
        dropStale();
        return pending.size();
    }

    private void replay(Saved s) {
        NDArray g = s.last.getGradient(); // zeros when the loss did not depend on this pass
        Adapters a = decoder.adapters;
        boolean wasOn = a != null && a.enabled;
        try {
            for (int i = s.inputs.length - 1; i >= 0; i--) {
                NDArray x = s.inputs[i];
                x.setRequiresGradient(true);
                NDArray y;
                if (a != null) {
                    a.enter(s.pass);
                    a.enabled = s.adaptersOn;
                }
                try {
                    y = decoder.layer(i, x, s.pass, s.shared);
                } finally {
                    if (a != null) {
                        a.leave();
                        a.enabled = wasOn;
                    }
                }
                JniUtils.backward((PtNDArray) y, (PtNDArray) g, false, false); // no sum(y·g): g is y's gradient
                NDArray gx = x.getGradient();
                Ops.free(y, g, x); // this layer's graph is gone with its backward; its input too
                s.inputs[i] = null;
                g = gx;
            }
            if (s.embedded != null) {
                JniUtils.backward((PtNDArray) s.embedded, (PtNDArray) g, false, false);
            }
        } finally {
            Ops.free(g);
            free(s);
        }
    }

    private static void free(Saved s) {
        Ops.free(s.inputs);
        Ops.free(s.embedded, s.last);
    }

    /** Forgets passes whose arrays are gone: their step ended (its manager closed) without a backward. */
    private void dropStale() {
        pending.removeIf(s -> ((PtNDArray) s.last).isReleased());
    }
}
