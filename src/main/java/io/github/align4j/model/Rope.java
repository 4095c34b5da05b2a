package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.internal.Scalars;

/**
 * Rotary position embedding tables (Su et al. 2021) in Hugging Face's "rotate half" layout:
 * {@code rope(x) = x·cos + rotate_half(x)·sin} with {@code rotate_half([x1, x2]) = [−x2, x1]}.
 * The sign of {@code rotate_half} is folded into a signed sine table, and the attention scale
 * 1/√D into the query tables, so that applying rope costs two multiplies and an add.
 *
 * <p>One table per model covers positions 0..capacity−1 (grown by doubling); each pass slices the
 * rows it needs into the caller's manager, so memory is bounded by the longest sequence.
 */
final class Rope {
    private final int headDim;
    private final double[] invFreq;
    private final float queryScale;
    private final NDManager manager;
    private NDArray[] full; // cos, sinSigned, cosQ, sinSignedQ for positions 0..capacity-1
    private long capacity;

    Rope(ModelConfig c, NDManager manager) {
        this.headDim = c.headDim();
        this.manager = manager;
        this.queryScale = (float) (1.0 / Math.sqrt(c.headDim()));
        int half = headDim / 2;
        invFreq = new double[half];
        for (int i = 0; i < half; i++) {
            invFreq[i] = 1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / headDim);
        }
        ModelConfig.RopeScaling s = c.rope();
        if (s != null && s.type().equals("linear")) {
            for (int i = 0; i < half; i++) {
                invFreq[i] /= s.factor();
            }
        } else if (s != null && s.type().equals("llama3")) {
            // Llama 3.1: keep high frequencies, divide low ones by factor, interpolate in between.
            double lowWavelen = s.originalMaxPositions() / s.lowFreqFactor();
            double highWavelen = s.originalMaxPositions() / s.highFreqFactor();
            for (int i = 0; i < half; i++) {
                double wavelen = 2 * Math.PI / invFreq[i];
                if (wavelen > lowWavelen) {
                    invFreq[i] /= s.factor();
                } else if (wavelen >= highWavelen) {
                    double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor())
                            / (s.highFreqFactor() - s.lowFreqFactor());
                    invFreq[i] = (1 - smooth) * invFreq[i] / s.factor() + smooth * invFreq[i];
                }
            }
        }
    }

    /**
     * The rotary tables of one pass, each [T, D], for positions offset..offset+T−1 (Hugging Face's
     * {@code position_embeddings}, computed once per pass and shared by every layer).
     *
     * @param cos cos(p·θ_i)
     * @param sin sin(p·θ_i) with rotate_half's sign folded in
     * @param cosQ cos scaled by 1/√D, for queries
     * @param sinQ sin scaled by 1/√D, for queries
     */
    record Slice(NDArray cos, NDArray sin, NDArray cosQ, NDArray sinQ) {}

    /**
     * The tables for positions offset..offset+length−1: views into one table per model that grows
     * (by doubling) to the longest sequence seen, owned by the caller's manager, in the activations'
     * type {@code type}.
     */
    synchronized Slice slice(long offset, long length, NDManager callerManager, DataType type) {
        if (full == null || capacity < offset + length) {
            if (full != null) {
                for (NDArray a : full) {
                    a.close();
                }
            }
            capacity = Math.max(2 * capacity, offset + length + 64);
            full = build(0, capacity);
        }
        NDArray[] out = new NDArray[4];
        NDIndex rows = new NDIndex("{}:{}", offset, offset + length);
        for (int i = 0; i < 4; i++) {
            out[i] = Ops.to(full[i].get(rows), type); // float32 tables; float16 activations on a GPU get float16 ones
            out[i].attach(callerManager);
        }
        return new Slice(out[0], out[1], out[2], out[3]);
    }

    /**
     * The tables of a packed pass, gathered at each token's position: cos and sin [B, 1, T, D] (for keys
     * [B, KV, T, D]) and the query tables [B, 1, 1, T, D] (for queries [B, KV, rep, T, D]).
     */
    synchronized Slice gather(Packing packing, NDManager callerManager, DataType type) {
        Slice whole = slice(0, packing.span(), callerManager, type);
        NDArray pos = packing.positions(callerManager);
        NDArray[] from = {whole.cos(), whole.sin(), whole.cosQ(), whole.sinQ()};
        NDArray[] out = new NDArray[4];
        for (int i = 0; i < 4; i++) {
            NDArray rows = Ops.rows(pos, from[i]); // [B, T, D]
            out[i] = i < 2 ? rows.expandDims(1) : rows.expandDims(1).expandDims(1);
            Ops.free(rows, from[i]);
        }
        Ops.free(pos);
        return new Slice(out[0], out[1], out[2], out[3]);
    }

    private NDArray[] build(long offset, long length) {
        int d = headDim;
        int half = d / 2;
        float[] cos = new float[(int) (length * d)];
        float[] sin = new float[cos.length];
        for (int t = 0; t < length; t++) {
            for (int i = 0; i < half; i++) {
                double angle = (offset + t) * invFreq[i];
                float c = (float) Math.cos(angle);
                float s = (float) Math.sin(angle);
                cos[t * d + i] = c;
                cos[t * d + half + i] = c;
                sin[t * d + i] = -s; // rotate_half puts −x2 first
                sin[t * d + half + i] = s;
            }
        }
        float[] cosQ = cos.clone();
        float[] sinQ = sin.clone();
        for (int i = 0; i < cos.length; i++) {
            cosQ[i] *= queryScale;
            sinQ[i] *= queryScale;
        }
        Shape shape = new Shape(length, d);
        NDArray[] t = {Scalars.owned(manager.create(cos, shape)), Scalars.owned(manager.create(sin, shape)),
            Scalars.owned(manager.create(cosQ, shape)), Scalars.owned(manager.create(sinQ, shape))};
        for (NDArray a : t) {
            NDScope.unregister(a); // cached across steps: must outlive the caller's scope
        }
        return t;
    }

    /** x·cos + swap_halves(x)·sinSigned, for x [..., T, D]. */
    static NDArray apply(NDArray x, NDArray cos, NDArray sinSigned) {
        int last = x.getShape().dimension() - 1; // DJL's split does not take a negative axis
        var halves = x.split(2, last);
        NDArray swapped = halves.get(1).concat(halves.get(0), last);
        halves.close();
        swapped.muli(sinSigned); // in place: cat's backward needs no output, the table needs no gradient
        NDArray out = x.mul(cos).addi(swapped);
        Ops.free(swapped);
        return out;
    }
}
