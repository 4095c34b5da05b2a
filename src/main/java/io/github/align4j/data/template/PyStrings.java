package io.github.align4j.data.template;

import com.hubspot.jinjava.el.ext.NamedParameter;
import com.hubspot.jinjava.objects.SafeString;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Python's {@code str} methods, for templates that call them on strings ({@code
 * message['content'].strip()}, {@code role.title()}, {@code content.split('</think>')[-1]}, ...).
 * jinja2 lets templates call any method of a Python object; jinjava only finds Java methods, and
 * Java's {@code String} lacks most of these names or means something else by them ({@code split}
 * takes a regex). {@link PyStringResolver} routes the calls here.
 *
 * <p>Indices ({@code find}, {@code start}/{@code end} arguments) count code points, as Python does.
 */
final class PyStrings {
    private PyStrings() {}

    /** Returned by {@link #call} for a name that is not a Python str method handled here. */
    static final Object NOT_A_METHOD = new Object();

    /**
     * Calls the Python method {@code name} on {@code self}.
     *
     * @param args positional arguments, then jinjava {@link NamedParameter}s for keyword arguments
     * @return the result, or {@link #NOT_A_METHOD}
     * @throws PyError where Python would raise (bad argument count or type, empty separator, ...)
     */
    static Object call(String self, String name, Object[] args) {
        switch (name) {
            case "strip": {
                Args a = new Args(name, args, "chars");
                return strip(self, a.str(0, null), true, true);
            }
            case "lstrip": {
                Args a = new Args(name, args, "chars");
                return strip(self, a.str(0, null), true, false);
            }
            case "rstrip": {
                Args a = new Args(name, args, "chars");
                return strip(self, a.str(0, null), false, true);
            }
            case "upper":
                new Args(name, args);
                return self.toUpperCase(Locale.ROOT);
            case "lower":
                new Args(name, args);
                return self.toLowerCase(Locale.ROOT);
            case "casefold":
                new Args(name, args);
                return self.toUpperCase(Locale.ROOT).toLowerCase(Locale.ROOT);
            case "title":
                new Args(name, args);
                return title(self);
            case "capitalize":
                new Args(name, args);
                return capitalize(self);
            case "swapcase":
                new Args(name, args);
                return swapcase(self);
            case "startswith": {
                Args a = new Args(name, args, "prefix", "start", "end");
                return affix(self, a, true);
            }
            case "endswith": {
                Args a = new Args(name, args, "suffix", "start", "end");
                return affix(self, a, false);
            }
            case "split": {
                Args a = new Args(name, args, "sep", "maxsplit");
                return split(self, a.str(0, null), a.integer(1, -1));
            }
            case "rsplit": {
                Args a = new Args(name, args, "sep", "maxsplit");
                return rsplit(self, a.str(0, null), a.integer(1, -1));
            }
            case "splitlines": {
                Args a = new Args(name, args, "keepends");
                return splitlines(self, a.truthy(0, false));
            }
            case "replace": {
                Args a = new Args(name, args, "old", "new", "count");
                return replace(self, a.requiredStr(0), a.requiredStr(1), a.integer(2, -1));
            }
            case "join": {
                Args a = new Args(name, args, "iterable");
                return join(self, a.required(0));
            }
            case "find":
            case "rfind":
            case "index":
            case "rindex": {
                Args a = new Args(name, args, "sub", "start", "end");
                int found = find(self, a.requiredStr(0), a.optionalInteger(1), a.optionalInteger(2),
                        name.startsWith("r"));
                if (found < 0 && name.endsWith("index")) {
                    throw new PyError("substring not found");
                }
                return (long) found;
            }
            case "count": {
                Args a = new Args(name, args, "sub", "start", "end");
                return count(self, a.requiredStr(0), a.optionalInteger(1), a.optionalInteger(2));
            }
            case "removeprefix": {
                Args a = new Args(name, args, "prefix");
                String prefix = a.requiredStr(0);
                return self.startsWith(prefix) ? self.substring(prefix.length()) : self;
            }
            case "removesuffix": {
                Args a = new Args(name, args, "suffix");
                String suffix = a.requiredStr(0);
                return !suffix.isEmpty() && self.endsWith(suffix)
                        ? self.substring(0, self.length() - suffix.length()) : self;
            }
            case "partition":
            case "rpartition": {
                Args a = new Args(name, args, "sep");
                String sep = a.requiredStr(0);
                if (sep.isEmpty()) {
                    throw new PyError("empty separator");
                }
                boolean right = name.startsWith("r");
                int at = right ? self.lastIndexOf(sep) : self.indexOf(sep);
                if (at < 0) {
                    return right ? list("", "", self) : list(self, "", "");
                }
                return list(self.substring(0, at), sep, self.substring(at + sep.length()));
            }
            case "center":
            case "ljust":
            case "rjust": {
                Args a = new Args(name, args, "width", "fillchar");
                String fill = a.str(1, " ");
                if (fill.codePointCount(0, fill.length()) != 1) {
                    throw new PyError("The fill character must be exactly one character long");
                }
                return pad(self, name, a.requiredInteger(0), fill);
            }
            case "zfill": {
                Args a = new Args(name, args, "width");
                return zfill(self, a.requiredInteger(0));
            }
            case "format":
                return PyFormat.format(self, args);
            case "isspace":
                new Args(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(PyStrings::isSpace);
            case "isdigit":
                new Args(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(PyStrings::isDigit);
            case "isdecimal":
                new Args(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(Character::isDigit);
            case "isnumeric":
                new Args(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(PyStrings::isNumeric);
            case "isalpha":
                new Args(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(Character::isLetter);
            case "isalnum":
                new Args(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(cp -> Character.isLetter(cp) || isNumeric(cp));
            case "isupper":
                new Args(name, args);
                return self.codePoints().anyMatch(PyStrings::isCased)
                        && self.codePoints().noneMatch(cp -> Character.isLowerCase(cp) || Character.isTitleCase(cp));
            case "islower":
                new Args(name, args);
                return self.codePoints().anyMatch(PyStrings::isCased)
                        && self.codePoints().noneMatch(cp -> Character.isUpperCase(cp) || Character.isTitleCase(cp));
            default:
                return NOT_A_METHOD;
        }
    }

    // ------------------------------------------------------------------------------ characters

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

    private static boolean isDigit(int cp) {
        // Python's isdigit also accepts superscripts and circled digits (Numeric_Type=Digit).
        return Character.isDigit(cp) || (Character.getType(cp) == Character.OTHER_NUMBER
                && Character.getNumericValue(cp) >= 0 && Character.getNumericValue(cp) <= 9);
    }

    private static boolean isNumeric(int cp) {
        int type = Character.getType(cp);
        return type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER
                || type == Character.OTHER_NUMBER;
    }

    private static boolean isCased(int cp) {
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

    // -------------------------------------------------------------------------------- methods

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
        return chars == null ? isSpace(cp) : chars.indexOf(new String(Character.toChars(cp))) >= 0;
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

    private static String swapcase(String s) {
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

    /** str.startswith / str.endswith, with a tuple (list) of candidates and start/end. */
    private static boolean affix(String self, Args a, boolean prefix) {
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
            String text = asStr(option, a.method + " first arg must be str or a tuple of str, not "
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

    /** str.split(sep=None, maxsplit=-1). */
    static List<String> split(String s, String sep, long maxsplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.codePointAt(i))) {
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
                while (j < n && !isSpace(s.codePointAt(j))) {
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
                while (j > 0 && isSpace(s.codePointBefore(j))) {
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
                while (i > 0 && !isSpace(s.codePointBefore(i))) {
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
            out.append(asStr(item, "sequence item " + index + ": expected str instance, "
                    + PyObjects.typeName(item) + " found"));
            index++;
        }
        return out.toString();
    }

    private static int find(String s, String sub, Long start, Long end, boolean fromRight) {
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

    private static long count(String s, String sub, Long start, Long end) {
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

    private static String pad(String s, String how, long width, String fill) {
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

    private static String zfill(String s, long width) {
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

    // ------------------------------------------------------------------------------ helpers

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

    private static List<String> list(String... items) {
        return new ArrayList<>(List.of(items));
    }

    private static String asStr(Object value, String error) {
        if (value instanceof String s) {
            return s;
        }
        if (value instanceof SafeString s) {
            return s.getValue();
        }
        throw new PyError(error);
    }

    /** The arguments of one call, positional and keyword, checked against the method's parameters. */
    private static final class Args {
        final String method;
        final Object[] values;
        final boolean[] given;

        Args(String method, Object[] args, String... names) {
            this.method = method;
            this.values = new Object[names.length];
            this.given = new boolean[names.length];
            int positional = 0;
            for (Object arg : args == null ? new Object[0] : args) {
                if (arg instanceof NamedParameter named) {
                    int at = List.of(names).indexOf(named.getName());
                    if (at < 0) {
                        throw new PyError("str." + method + "() got an unexpected keyword argument '"
                                + named.getName() + "'");
                    }
                    values[at] = named.getValue();
                    given[at] = true;
                } else {
                    if (positional >= names.length) {
                        throw new PyError("str." + method + "() takes at most " + names.length
                                + " argument" + (names.length == 1 ? "" : "s") + " ("
                                + (args.length) + " given)");
                    }
                    values[positional] = arg;
                    given[positional] = true;
                    positional++;
                }
            }
        }

        Object required(int i) {
            if (!given[i]) {
                throw new PyError("str." + method + "() is missing a required argument (" + (i + 1) + ")");
            }
            return values[i];
        }

        String requiredStr(int i) {
            Object v = required(i);
            return asStr(v, "str." + method + "() argument " + (i + 1) + " must be str, not "
                    + PyObjects.typeName(v));
        }

        /** A str argument where None (or leaving it out) means {@code absent}. */
        String str(int i, String absent) {
            Object v = values[i];
            if (v == null) {
                return absent;
            }
            return asStr(v, "str." + method + "() argument " + (i + 1) + " must be str or None, not "
                    + PyObjects.typeName(v));
        }

        Long optionalInteger(int i) {
            Object v = values[i];
            if (v == null) {
                return null;
            }
            if (v instanceof Number n && !(v instanceof Double) && !(v instanceof Float)) {
                return n.longValue();
            }
            if (v instanceof Boolean b) {
                return b ? 1L : 0L;
            }
            throw new PyError("str." + method + "() argument " + (i + 1) + " must be int or None, not "
                    + PyObjects.typeName(v));
        }

        long integer(int i, long absent) {
            Long v = optionalInteger(i);
            return v == null ? absent : v;
        }

        long requiredInteger(int i) {
            required(i);
            Long v = optionalInteger(i);
            if (v == null) {
                throw new PyError("str." + method + "() argument " + (i + 1) + " must be int, not NoneType");
            }
            return v;
        }

        boolean truthy(int i, boolean absent) {
            Object v = values[i];
            if (!given[i]) {
                return absent;
            }
            if (v == null) {
                return false;
            }
            if (v instanceof Boolean b) {
                return b;
            }
            if (v instanceof Number n) {
                return n.doubleValue() != 0;
            }
            if (v instanceof String s) {
                return !s.isEmpty();
            }
            if (v instanceof Collection<?> c) {
                return !c.isEmpty();
            }
            if (v instanceof Map<?, ?> m) {
                return !m.isEmpty();
            }
            return true;
        }
    }
}
