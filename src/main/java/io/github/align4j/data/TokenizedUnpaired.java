package io.github.align4j.data;

/**
 * One unpaired (KTO) example as the model sees it.
 *
 * @param prompt prompt token ids
 * @param completion completion ids, EOS last
 * @param desirable true for a good completion
 * @param row the 0-based index of the source row (or pair) in its file
 */
public record TokenizedUnpaired(int[] prompt, int[] completion, boolean desirable, long row) {}
