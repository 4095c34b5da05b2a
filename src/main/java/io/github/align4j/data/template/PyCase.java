package io.github.align4j.data.template;

import java.util.Locale;

/**
 * Python's case methods ({@code title}, {@code capitalize}, {@code swapcase}) and the character
 * classes behind {@code isspace}, {@code isdigit}, {@code isnumeric}, {@code isupper}, ... for
 * {@link PyStrings}, one code point at a time as Python does (U+01C6 has a title case of its own;
 * {@code "ß".title()} is {@code "Ss"}).
 */
final class PyCase {
    private PyCase() {}

    /** Python's str.isspace() for one character (includes U+00A0, U+2028, U+3000, ...; not U+200B). */
    static boolean isSpace(int cp) {
        switch (cp) {
            case '\t', '\n', 0x0b, '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, ' ', 0x85:
                return true;
            default:
                int type = Character.getType(cp);
                return type == Character.SPACE_SEPARATOR || type == Character.LINE_SEPARATOR
                        || type == Character.PARAGRAPH_SEPARATOR;
        }
    }

    static boolean isDigit(int cp) {
        // Python's isdigit also accepts superscripts and circled digits (Numeric_Type=Digit).
        return Character.isDigit(cp) || (Character.getType(cp) == Character.OTHER_NUMBER
                && Character.getNumericValue(cp) >= 0 && Character.getNumericValue(cp) <= 9);
    }

    static boolean isNumeric(int cp) {
        int type = Character.getType(cp);
        return type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER
                || type == Character.OTHER_NUMBER;
    }

    static boolean isCased(int cp) {
        return Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
    }

    private static String lowerOf(int cp) {
        return new String(Character.toChars(cp)).toLowerCase(Locale.ROOT);
    }

    private static String upperOf(int cp) {
        return new String(Character.toChars(cp)).toUpperCase(Locale.ROOT);
    }

    private static String titleOf(int cp) {
        String upper = upperOf(cp);
        // A single character has a title case of its own (e.g. U+01C6 dž -> U+01C5 Dž).
        if (upper.codePointCount(0, upper.length()) == 1) {
            return new String(Character.toChars(Character.toTitleCase(cp)));
        }
        return upper.charAt(0) + upper.substring(1).toLowerCase(Locale.ROOT); // ß -> Ss, as Python
    }

    /** str.title(): a cased character after an uncased one starts a word ("they're" -> "They'Re"). */
    static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (isCased(cp)) {
                out.append(previousCased ? lowerOf(cp) : titleOf(cp));
                previousCased = true;
            } else {
                out.appendCodePoint(cp);
                previousCased = false;
            }
        }
        return out.toString();
    }

    /** str.capitalize(): first character in title case, the rest lower case. */
    static String capitalize(String s) {
        if (s.isEmpty()) {
            return s;
        }
        int first = s.codePointAt(0);
        return titleOf(first) + s.substring(Character.charCount(first)).toLowerCase(Locale.ROOT);
    }

    static String swapcase(String s) {
        StringBuilder out = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> {
            if (Character.isUpperCase(cp) || Character.isTitleCase(cp)) {
                out.append(lowerOf(cp));
            } else if (Character.isLowerCase(cp)) {
                out.append(upperOf(cp));
            } else {
                out.appendCodePoint(cp);
            }
        });
        return out.toString();
    }
}
