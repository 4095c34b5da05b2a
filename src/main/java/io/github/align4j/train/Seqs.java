package io.github.align4j.train;

/** Prompt + completion token sequences and where each completion starts. */
record Seqs(int[][] seqs, int[] starts, long tokens) {
    static Seqs of(int[][] prompts, int[][] completions) {
        int[][] s = new int[prompts.length][];
        int[] st = new int[prompts.length];
        long tok = 0;
        for (int i = 0; i < s.length; i++) {
            s[i] = new int[prompts[i].length + completions[i].length];
            System.arraycopy(prompts[i], 0, s[i], 0, prompts[i].length);
            System.arraycopy(completions[i], 0, s[i], prompts[i].length, completions[i].length);
            st[i] = prompts[i].length;
            tok += s[i].length;
        }
        return new Seqs(s, st, tok);
    }
}
