package io.github.align4j.model.internal;

/**
 * How many rows of completion positions go through a frozen head on the CPU at once: the rule the scorer follows and
 * the memory planner counts. Blocks of at most {@value #BYTES} bytes of [rows, V] float32 logits come from glibc's free lists
 * step after step (the head's weight in float32, or float16 of at most {@value #WIDEN_AT_ONCE} elements widened once); a
 * whole [M, V] tensor above its mmap threshold (at most 32 MiB) is a fresh mapping each time,
 * every page of it faulted in and zeroed again (measured on bench-medium: 200k page faults a LoRA step before, 9k
 * after; docs/performance.md, "Page faults"). Each block reads the whole head weight, so a block keeps at least
 * {@value #MIN_ROWS} rows: a vocabulary above 65,536 tokens keeps one product.
 */
public final class HeadBlocks {
    /** The most bytes of one block's float32 logits. */
    public static final long BYTES = 16L << 20;
    /** The fewest rows of a block. */
    public static final long MIN_ROWS = 64;
    /**
     * The most elements of a float16 head widened to float32 at once (16 Mi, 64 MiB as float32): a smaller head is
     * widened once and scored in blocks; a larger one is widened and applied in slices of the vocabulary in one
     * product over all rows.
     */
    public static final long WIDEN_AT_ONCE = 1L << 24;

    private HeadBlocks() {}

    /** Rows per block for {@code positions} scored positions over {@code vocab} tokens, or 0 for one product. */
    public static long rows(long vocab, long positions) {
        return rows(vocab, positions, BYTES, MIN_ROWS);
    }

    /** {@link #rows(long, long)} with other limits (tests). */
    public static long rows(long vocab, long positions, long bytes, long minRows) {
        long rows = bytes / (vocab * 4);
        return rows < minRows || rows >= positions ? 0 : rows;
    }
}
