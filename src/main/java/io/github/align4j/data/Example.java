package io.github.align4j.data;

/**
 * One kept example: its texts and the token ids the trainer uses (truncated, EOS appended to
 * each completion). For unpaired examples {@code chosen} holds the completion and
 * {@code rejected} is null.
 */
record Example(RenderedExample text, int[] prompt, int[] chosen, int[] rejected) {

    boolean paired() {
        return rejected != null;
    }
}
