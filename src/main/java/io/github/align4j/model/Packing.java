package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.internal.Scalars;

/**
 * The token layout of a packed pass: rows that hold a shared prompt once and two completions after it,
 * {@code [prompt | chosen | rejected]}. Each token has a position (the rejected completion starts again
 * where the prompt ends) and a branch: 0 for the prompt, which every later token sees, and its own number
 * for each completion (and for the padding), which only tokens of the same branch see:
 * <pre>
 *   query q sees key k  ⇔  k ≤ q  ∧  (branch_k = 0 ∨ branch_k = branch_q)  ∧  pos_q − pos_k &lt; window
 * </pre>
 * so every completion token's hidden state is the one its own unpacked row gives, and the prompt's
 * layers run once a pair instead of twice. Rows with nothing to share are one branch 0 throughout
 * (plain causal attention).
 */
final class Packing {
    final int rows;
    final int length;
    /** Positions, row-major [rows, length]. */
    private final long[] positions;
    /** Branches, row-major [rows, length]. */
    private final int[] branches;
    private final long span;

    Packing(int rows, int length, long[] positions, int[] branches) {
        if (positions.length != (long) rows * length || branches.length != positions.length) {
            throw new IllegalArgumentException("a packing of " + rows + " × " + length + " needs that many positions and branches");
        }
        this.rows = rows;
        this.length = length;
        this.positions = positions;
        this.branches = branches;
        long max = 0;
        for (long p : positions) {
            max = Math.max(max, p);
        }
        this.span = max + 1;
    }

    /** The largest position, +1: how many rows of a position table the pass reads. */
    long span() {
        return span;
    }

    /** The positions as [rows, length] int64 in {@code manager}. */
    NDArray positions(NDManager manager) {
        return Scalars.owned(manager.create(positions, new Shape(rows, length)));
    }

    /**
     * The additive attention mask [rows, 1, 1, length, length]: 0 where a query sees a key, −∞ elsewhere,
     * in {@code type}, built with a few element-wise operations (never a rows × length² Java array).
     *
     * @param window sliding-window size in positions, 0 for none
     */
    NDArray mask(NDManager manager, int window, DataType type) {
        NDArray br = Scalars.owned(manager.create(branches, new Shape(rows, length)));
        NDArray q = br.expandDims(2); // [R, L, 1]
        NDArray k = br.expandDims(1); // [R, 1, L]
        NDArray same = q.eq(k);
        NDArray trunk = k.eq(0);
        NDArray branch = same.logicalOr(trunk); // [R, L, L]
        NDArray idx = manager.arange(length);
        NDArray qi = idx.expandDims(1);
        NDArray ki = idx.expandDims(0);
        NDArray causal = qi.gte(ki); // [L, L]
        NDArray seen = branch.logicalAnd(causal);
        NDArray[] tmp = {br, q, k, same, trunk, branch, idx, qi, ki, causal};
        if (window > 0) {
            NDArray pos = positions(manager);
            NDArray pq = pos.expandDims(2);
            NDArray pk = pos.expandDims(1);
            NDArray diff = pq.sub(pk);
            NDArray near = diff.lt(window);
            NDArray both = seen.logicalAnd(near);
            Ops.free(pos, pq, pk, diff, near, seen);
            seen = both;
        }
        NDArray ones = seen.toType(type, false); // 1 where seen, else 0
        NDArray additive = ones.log(); // log 1 = 0, log 0 = −∞: exactly the additive mask
        NDArray out = additive.reshape(rows, 1, 1, length, length);
        Ops.free(tmp);
        Ops.free(seen, ones, additive);
        return out;
    }
}
