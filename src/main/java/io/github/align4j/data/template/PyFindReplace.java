package io.github.align4j.data.template;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Python's {@code startswith}/{@code endswith}, {@code find}/{@code rfind} (and {@code index}),
 * {@code count} and {@code replace} for {@link PyStrings}, with Python's slice bounds counted in
 * code points; {@code replace} is charged to the template's string budget before it is built.
 */
final class PyFindReplace {
    private PyFindReplace() {}

    /** str.startswith / str.endswith, with a tuple (list) of candidates and start/end. */
    static boolean affix(String self, PyArgs a, boolean prefix) {
        Object candidates = a.required(0);
        int length = self.codePointCount(0, self.length());
        Long start = a.optionalInteger(1);
        int[] bounds = sliceBounds(length, start, a.optionalInteger(2));
        if (start != null && (start < 0 ? start + length : start) > length) {
            return false; // Python: a start past the end matches nothing
        }
        String part = codePointSlice(self, bounds[0], bounds[1]);
        List<Object> options = new ArrayList<>();
        if (candidates instanceof Collection<?> || candidates instanceof Object[]) {
            PyObjects.iterable(candidates).forEach(options::add);
        } else {
            options.add(candidates);
        }
        for (Object option : options) {
            String text = PyArgs.asStr(option, a.method + " first arg must be str or a tuple of str, not "
                    + PyObjects.typeName(option));
            if (bounds[0] > bounds[1]) {
                continue;
            }
            if (prefix ? part.startsWith(text) : part.endsWith(text)) {
                return true;
            }
        }
        return false;
    }

    /** str.replace(old, new, count=-1); an empty {@code old} inserts between characters. */
    static String replace(String s, String old, String replacement, long count) {
        if (count < 0) {
            count = Long.MAX_VALUE;
        }
        long matches = old.isEmpty() ? s.codePointCount(0, s.length()) + 1L : occurrences(s, old);
        ChatTemplateInterpreter.budget().checkString(s.length()
                + Math.min(count, matches) * (replacement.length() - (long) old.length()), "str.replace()");
        StringBuilder out = new StringBuilder();
        if (old.isEmpty()) {
            long done = 0;
            int i = 0;
            while (true) {
                if (done < count) {
                    out.append(replacement);
                    done++;
                }
                if (i >= s.length()) {
                    break;
                }
                int cp = s.codePointAt(i);
                out.appendCodePoint(cp);
                i += Character.charCount(cp);
            }
            return out.toString();
        }
        int from = 0;
        long done = 0;
        while (done < count) {
            int at = s.indexOf(old, from);
            if (at < 0) {
                break;
            }
            out.append(s, from, at).append(replacement);
            from = at + old.length();
            done++;
        }
        return out.append(s, from, s.length()).toString();
    }

    private static long occurrences(String s, String sub) {
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    static int find(String s, String sub, Long start, Long end, boolean fromRight) {
        int length = s.codePointCount(0, s.length());
        if (start != null && (start < 0 ? start + length : start) > length) {
            return -1;
        }
        int[] bounds = sliceBounds(length, start, end);
        if (bounds[0] > bounds[1]) {
            return -1;
        }
        String part = codePointSlice(s, bounds[0], bounds[1]);
        int at = fromRight ? part.lastIndexOf(sub) : part.indexOf(sub);
        return at < 0 ? -1 : bounds[0] + part.codePointCount(0, at);
    }

    static long count(String s, String sub, Long start, Long end) {
        int length = s.codePointCount(0, s.length());
        if (start != null && (start < 0 ? start + length : start) > length) {
            return 0;
        }
        int[] bounds = sliceBounds(length, start, end);
        if (bounds[0] > bounds[1]) {
            return 0;
        }
        String part = codePointSlice(s, bounds[0], bounds[1]);
        if (sub.isEmpty()) {
            return part.codePointCount(0, part.length()) + 1L;
        }
        long n = 0;
        for (int at = part.indexOf(sub); at >= 0; at = part.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    /** Python slice bounds [lo, hi] of a sequence of {@code length}: negatives count from the end. */
    private static int[] sliceBounds(int length, Long start, Long end) {
        long lo = start == null ? 0 : start;
        long hi = end == null ? length : end;
        if (lo < 0) {
            lo = Math.max(0, lo + length);
        }
        if (hi < 0) {
            hi = Math.max(0, hi + length);
        }
        lo = Math.min(lo, length);
        hi = Math.min(hi, length);
        return new int[] {(int) lo, (int) hi};
    }

    private static String codePointSlice(String s, int from, int to) {
        if (from >= to) {
            return "";
        }
        int a = s.offsetByCodePoints(0, from);
        int b = s.offsetByCodePoints(a, to - from);
        return s.substring(a, b);
    }
}
