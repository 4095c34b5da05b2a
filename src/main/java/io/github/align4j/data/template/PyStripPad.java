package io.github.align4j.data.template;

/**
 * Python's {@code strip}/{@code lstrip}/{@code rstrip} and the padding methods {@code center},
 * {@code ljust}, {@code rjust}, {@code zfill} for {@link PyStrings}; padding is charged to the
 * template's string budget before it is built.
 */
final class PyStripPad {
    private PyStripPad() {}

    /** str.strip/lstrip/rstrip: chars null means whitespace (Python's isspace). */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        if (left) {
            while (start < end) {
                int cp = s.codePointAt(start);
                if (!stripped(cp, chars)) {
                    break;
                }
                start += Character.charCount(cp);
            }
        }
        if (right) {
            while (end > start) {
                int cp = s.codePointBefore(end);
                if (!stripped(cp, chars)) {
                    break;
                }
                end -= Character.charCount(cp);
            }
        }
        return s.substring(start, end);
    }

    private static boolean stripped(int cp, String chars) {
        return chars == null ? PyCase.isSpace(cp) : chars.indexOf(new String(Character.toChars(cp))) >= 0;
    }

    /** str.center / str.ljust / str.rjust ({@code how}) to {@code width} code points. */
    static String pad(String s, String how, long width, String fill) {
        int length = s.codePointCount(0, s.length());
        if (width <= length) {
            return s;
        }
        ChatTemplateInterpreter.budget().checkString(s.length() + (width - length) * fill.length(), "str." + how + "()");
        int total = (int) (width - length);
        int left;
        switch (how) {
            case "ljust" -> left = 0;
            case "rjust" -> left = total;
            // CPython's rule for where the odd padding character goes.
            default -> left = (int) (total / 2 + (total & width & 1));
        }
        return fill.repeat(left) + s + fill.repeat(total - left);
    }

    /** str.zfill: zeros after a leading sign. */
    static String zfill(String s, long width) {
        int length = s.codePointCount(0, s.length());
        if (width <= length) {
            return s;
        }
        ChatTemplateInterpreter.budget().checkString(width, "str.zfill()");
        String zeros = "0".repeat((int) (width - length));
        if (!s.isEmpty() && (s.charAt(0) == '+' || s.charAt(0) == '-')) {
            return s.charAt(0) + zeros + s.substring(1);
        }
        return zeros + s;
    }
}
