package io.github.align4j.data.template;

import java.util.ArrayList;
import java.util.List;

/**
 * Python's {@code split}, {@code rsplit}, {@code splitlines}, {@code partition},
 * {@code rpartition} and {@code join} for {@link PyStrings}; {@code join} is charged to the
 * template's string budget as it grows.
 */
final class PySplitJoin {
    private PySplitJoin() {}

    /** str.split(sep=None, maxsplit=-1). */
    static List<String> split(String s, String sep, long maxsplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && PyCase.isSpace(s.codePointAt(i))) {
                    i += Character.charCount(s.codePointAt(i));
                }
                if (i >= n) {
                    break;
                }
                if (maxsplit >= 0 && out.size() == maxsplit) {
                    out.add(s.substring(i));
                    break;
                }
                int j = i;
                while (j < n && !PyCase.isSpace(s.codePointAt(j))) {
                    j += Character.charCount(s.codePointAt(j));
                }
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new PyError("empty separator");
        }
        int from = 0;
        while (maxsplit < 0 || out.size() < maxsplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) {
                break;
            }
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    /** str.rsplit(sep=None, maxsplit=-1). */
    static List<String> rsplit(String s, String sep, long maxsplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int j = s.length();
            while (true) {
                while (j > 0 && PyCase.isSpace(s.codePointBefore(j))) {
                    j -= Character.charCount(s.codePointBefore(j));
                }
                if (j <= 0) {
                    break;
                }
                if (maxsplit >= 0 && out.size() == maxsplit) {
                    out.add(0, s.substring(0, j));
                    break;
                }
                int i = j;
                while (i > 0 && !PyCase.isSpace(s.codePointBefore(i))) {
                    i -= Character.charCount(s.codePointBefore(i));
                }
                out.add(0, s.substring(i, j));
                j = i;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new PyError("empty separator");
        }
        int to = s.length();
        while (maxsplit < 0 || out.size() < maxsplit) {
            int at = to - sep.length() < 0 ? -1 : s.lastIndexOf(sep, to - sep.length());
            if (at < 0) {
                break;
            }
            out.add(0, s.substring(at + sep.length(), to));
            to = at;
        }
        out.add(0, s.substring(0, to));
        return out;
    }

    /** str.splitlines(keepends=False), with Python's set of line boundaries. */
    static List<String> splitlines(String s, boolean keepends) {
        List<String> out = new ArrayList<>();
        int start = 0;
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            int breakLength;
            if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') {
                breakLength = 2;
            } else if (c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d
                    || c == 0x1e || c == 0x85 || c == 0x2028 || c == 0x2029) {
                breakLength = 1;
            } else {
                i++;
                continue;
            }
            out.add(s.substring(start, keepends ? i + breakLength : i));
            i += breakLength;
            start = i;
        }
        if (start < s.length()) {
            out.add(s.substring(start));
        }
        return out;
    }

    /** str.join(iterable): every item must be a str, as in Python. */
    static String join(String sep, Object iterable) {
        ChatTemplateInterpreter.Budget budget = ChatTemplateInterpreter.budget();
        StringBuilder out = new StringBuilder();
        int index = 0;
        for (Object item : PyObjects.iterable(iterable)) {
            if (index > 0) {
                out.append(sep);
            }
            if (item instanceof String text) {
                budget.checkString((long) out.length() + text.length(), "str.join()");
            }
            out.append(PyArgs.asStr(item, "sequence item " + index + ": expected str instance, "
                    + PyObjects.typeName(item) + " found"));
            index++;
        }
        return out.toString();
    }

    /** str.partition / str.rpartition: {before, sep, after}, or the whole string and two empty ones. */
    static List<String> partition(String self, String sep, boolean right) {
        if (sep.isEmpty()) {
            throw new PyError("empty separator");
        }
        int at = right ? self.lastIndexOf(sep) : self.indexOf(sep);
        if (at < 0) {
            return right ? list("", "", self) : list(self, "", "");
        }
        return list(self.substring(0, at), sep, self.substring(at + sep.length()));
    }

    private static List<String> list(String... items) {
        return new ArrayList<>(List.of(items));
    }
}
