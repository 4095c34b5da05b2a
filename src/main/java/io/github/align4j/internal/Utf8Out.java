package io.github.align4j.internal;

import io.github.align4j.Align4jException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Text bound for a UTF-8 file. A Java string can hold what UTF-8 cannot encode: a lone surrogate
 * (a JSON row's {@code "\\ud83d"}, half of an emoji). {@code Files.writeString} then fails with
 * "Input length = 1", naming nothing; {@link #bytes} names the file, the line and the column
 * instead. Not part of align4j's API.
 */
public final class Utf8Out {
    private Utf8Out() {}

    /**
     * {@code text} as UTF-8.
     *
     * @param file the file it is for, named in the message
     * @throws Align4jException naming the file, the line and the column of the first lone surrogate
     */
    public static byte[] bytes(Path file, String text) {
        String where = firstUnencodable(text);
        if (where != null) {
            throw new Align4jException(file + ": cannot write " + where + ": UTF-8 cannot encode a lone surrogate "
                    + "(half of a character such as an emoji, e.g. a JSON escape \"\\ud83d\" without its partner). It came "
                    + "from the input (a data row, a prompt, an answer): fix that text.");
        }
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** "line 3, column 7 (\\ud83d)" for the first lone surrogate of {@code s}, or null when it has none. */
    public static String firstUnencodable(String s) {
        long line = 1;
        int lineStart = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\n') {
                line++;
                lineStart = i + 1;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return "line " + line + ", column " + (s.codePointCount(lineStart, i) + 1)
                        + String.format(" (\\u%04x)", (int) c);
            }
        }
        return null;
    }
}
