package io.github.align4j.internal;

/** Text helpers for messages. Not part of align4j's API. */
public final class Texts {
    private Texts() {}

    /** The first line of {@code s} ("" for null), for one-line error messages. */
    public static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }

    /** Levenshtein distance (insertions, deletions and substitutions each cost one). */
    public static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j], cur[j - 1]) + 1);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    /**
     * {@code s} with every control character but newline and tab written as {@code \\uXXXX}, so that
     * text from an untrusted file or server (a judge's error body, a tensor name, a data row) cannot
     * send escape sequences (ESC, BEL, CSI) to a terminal or forge lines in a log. Lone surrogates
     * are escaped too. Null gives "null".
     */
    public static String printable(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder out = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean bad;
            if (Character.isHighSurrogate(c)) {
                bad = i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1));
                if (!bad) {
                    if (out != null) {
                        out.append(c).append(s.charAt(i + 1));
                    }
                    i++;
                    continue;
                }
            } else if (Character.isLowSurrogate(c)) {
                bad = true;
            } else {
                bad = c != '\n' && c != '\t' && (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == '\u2028' || c == '\u2029');
            }
            if (bad && out == null) {
                out = new StringBuilder(s.length() + 16).append(s, 0, i);
            }
            if (out != null) {
                if (bad) {
                    out.append(String.format("\\u%04x", (int) c));
                } else {
                    out.append(c);
                }
            }
        }
        return out == null ? s : out.toString();
    }

    /**
     * A one-line description of a parse error that never quotes the file's content: the kind of
     * error and where it is ("line 3, column 14: unexpected token"). Parsers such as Jackson and
     * SnakeYAML echo the offending token in their messages, and a file that is a link to a secret
     * (a token file, a key) would otherwise print that secret.
     *
     * @param what what was being read, e.g. "not valid JSON"
     * @param line 1-based line, or a value below 1 when unknown
     * @param column 1-based column, or a value below 1 when unknown
     * @param kind a short kind of error from a fixed vocabulary (never the parser's message)
     */
    public static String parseError(String what, long line, long column, String kind) {
        StringBuilder b = new StringBuilder(what);
        if (line > 0) {
            b.append(" at line ").append(line);
            if (column > 0) {
                b.append(", column ").append(column);
            }
        }
        if (kind != null && !kind.isEmpty()) {
            b.append(" (").append(kind).append(')');
        }
        return b.toString();
    }

    /**
     * {@link #parseError} for a Jackson exception: its location and a kind named by its class, never
     * its message (which quotes the offending token).
     */
    public static String jsonError(String what, com.fasterxml.jackson.core.JsonProcessingException e) {
        com.fasterxml.jackson.core.JsonLocation at = e.getLocation();
        return parseError(what, at == null ? -1 : at.getLineNr(), at == null ? -1 : at.getColumnNr(), jsonKind(e));
    }

    /** The kind of a Jackson error in a few fixed words ("malformed JSON"), never its message. */
    public static String jsonKind(com.fasterxml.jackson.core.JsonProcessingException e) {
        String kind;
        if (e instanceof com.fasterxml.jackson.core.io.JsonEOFException) {
            kind = "unexpected end of input";
        } else if (e instanceof com.fasterxml.jackson.core.exc.StreamConstraintsException) {
            kind = "exceeds a size limit";
        } else if (e instanceof com.fasterxml.jackson.core.JsonParseException) {
            kind = "malformed JSON";
        } else if (e instanceof com.fasterxml.jackson.databind.exc.MismatchedInputException) {
            kind = "a value of the wrong type";
        } else {
            kind = "invalid content";
        }
        return kind;
    }
}
