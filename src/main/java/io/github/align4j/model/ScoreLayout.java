package io.github.align4j.model;

import io.github.align4j.model.internal.PromptSharing;

/**
 * How {@link SequenceScorer} lays out B sequences for its forward pass: one right-padded row each, or,
 * when sequence i and sequence i + ⌊B/2⌋ begin with the same prompt (a pair's chosen and rejected rows, as
 * the trainers order them), one row {@code [prompt | first completion | second completion]} per pair
 * ({@link Packing}), whenever that is less work ({@link PromptSharing#cheaper}). Either way each
 * sequence's token at index x is found at {@link #at}.
 */
final class ScoreLayout {
    /** Passes laid out packed, for tests to tell the paths apart. */
    static final java.util.concurrent.atomic.AtomicLong PACKED = new java.util.concurrent.atomic.AtomicLong();
    final int rows;
    final int length;
    /** Token ids, row-major [rows, length], padding 0. */
    final long[] ids;
    /** The packed layout, or null for one row a sequence (positions 0.., plain causal attention). */
    final Packing packing;
    /** Per sequence: the flat index of its token 0. */
    private final long[] start;
    /** Per sequence: its tokens from {@link #from} on lie {@link #shift} further along the row. */
    private final int[] from;
    private final int[] shift;

    private ScoreLayout(int rows, int length, long[] ids, Packing packing, long[] start, int[] from, int[] shift) {
        this.rows = rows;
        this.length = length;
        this.ids = ids;
        this.packing = packing;
        this.start = start;
        this.from = from;
        this.shift = shift;
    }

    /** The flat index (row·length + column) of sequence i's token x. */
    long at(int i, int x) {
        return start[i] + x + (x >= from[i] ? shift[i] : 0);
    }

    /**
     * @param sequences prompt + completion token ids per row
     * @param completionStart the prompt length of each row
     * @param mode the setting ({@link PromptSharing#mode})
     * @param gpu whether the pass runs on a GPU ({@link PromptSharing#cheaper})
     */
    static ScoreLayout of(ModelConfig c, int[][] sequences, int[] completionStart, PromptSharing.Mode mode, boolean gpu) {
        int n = sequences.length;
        int longest = 0;
        for (int[] s : sequences) {
            longest = Math.max(longest, s.length);
        }
        int half = n / 2;
        boolean[] paired = new boolean[n];
        int pairs = 0;
        int packedLength = 0;
        if (mode != PromptSharing.Mode.OFF) { // sequence i with i + half; with n odd the last one stays alone
            for (int i = 0; i < half; i++) {
                if (sharesPrompt(sequences[i], completionStart[i], sequences[half + i], completionStart[half + i])) {
                    paired[i] = true;
                    paired[half + i] = true;
                    pairs++;
                    packedLength = Math.max(packedLength, sequences[i].length + sequences[half + i].length - completionStart[i]);
                }
            }
        }
        int packedRows = n - pairs;
        if (pairs > 0) {
            for (int i = 0; i < n; i++) {
                if (!paired[i]) {
                    packedLength = Math.max(packedLength, sequences[i].length);
                }
            }
        }
        if (pairs == 0 || !PromptSharing.shares(mode, c, packedRows, packedLength, n, longest, gpu)) {
            return unpacked(sequences, longest);
        }
        PACKED.incrementAndGet();
        return packed(sequences, completionStart, paired, packedRows, packedLength);
    }

    /** The same prompt (at least one token, so that a completion's first token has a state to be predicted from). */
    private static boolean sharesPrompt(int[] a, int startA, int[] b, int startB) {
        if (startA != startB || startA < 1 || startA > a.length || startB > b.length) {
            return false;
        }
        for (int x = 0; x < startA; x++) {
            if (a[x] != b[x]) {
                return false;
            }
        }
        return true;
    }

    private static ScoreLayout unpacked(int[][] sequences, int length) {
        int n = sequences.length;
        long[] ids = new long[n * length];
        long[] start = new long[n];
        int[] from = new int[n];
        for (int i = 0; i < n; i++) {
            start[i] = (long) i * length;
            from[i] = Integer.MAX_VALUE;
            for (int x = 0; x < sequences[i].length; x++) {
                ids[i * length + x] = sequences[i][x];
            }
        }
        return new ScoreLayout(n, length, ids, null, start, from, new int[n]);
    }

    private static ScoreLayout packed(int[][] sequences, int[] completionStart, boolean[] paired, int rows, int length) {
        int n = sequences.length;
        int half = n / 2;
        long[] ids = new long[rows * length];
        long[] positions = new long[rows * length];
        int[] branches = new int[rows * length];
        long[] start = new long[n];
        int[] from = new int[n];
        int[] shift = new int[n];
        int row = 0;
        for (int i = 0; i < n; i++) {
            if (paired[i] && i >= half) {
                continue; // packed with its partner i − half
            }
            int base = row * length;
            int[] first = sequences[i];
            int col = 0;
            for (int x = 0; x < first.length; x++, col++) {
                ids[base + col] = first[x];
                positions[base + col] = x;
                branches[base + col] = paired[i] && x >= completionStart[i] ? 1 : 0;
            }
            start[i] = base;
            from[i] = Integer.MAX_VALUE;
            if (paired[i]) {
                int j = half + i;
                int p = completionStart[j];
                int[] second = sequences[j];
                start[j] = base;
                from[j] = p;
                shift[j] = first.length - p; // its completion follows the first one's
                for (int x = p; x < second.length; x++, col++) {
                    ids[base + col] = second[x];
                    positions[base + col] = x;
                    branches[base + col] = 2;
                }
            }
            for (; col < length; col++) {
                branches[base + col] = 3; // padding at position 0: seen by no real token
            }
            row++;
        }
        return new ScoreLayout(rows, length, ids, new Packing(rows, length, positions, branches), start, from, shift);
    }
}
