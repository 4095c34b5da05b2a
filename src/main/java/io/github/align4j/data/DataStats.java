package io.github.align4j.data;

import java.util.List;
import java.util.Map;

/**
 * What happened to the rows of a dataset.
 *
 * @param rowsRead rows in the files (bad ones included)
 * @param kept examples kept (pairs, or unpaired examples)
 * @param dropped rows dropped, by reason: {@code bad_row}, {@code prompt_too_long}, {@code empty_completion}
 * @param badRows rows that could not be read or did not fit the layout (skipped with {@code skipBadRows})
 * @param truncated kept rows with at least one token cut
 * @param badRowMessages the first few bad-row messages (file, line, field, what was expected)
 */
public record DataStats(long rowsRead, long kept, Map<String, Long> dropped, long badRows, long truncated,
        List<String> badRowMessages) {

    public DataStats {
        dropped = Map.copyOf(dropped);
        badRowMessages = List.copyOf(badRowMessages);
    }

    /** The same counts with another number of kept examples (after a split or unpairing). */
    DataStats withKept(long k, long t) {
        return new DataStats(rowsRead, k, dropped, badRows, t, badRowMessages);
    }
}
