package io.github.align4j.data.template;

import com.hubspot.jinjava.el.ext.NamedParameter;
import java.util.Locale;

/**
 * Python's {@code str} methods, for templates that call them on strings ({@code
 * message['content'].strip()}, {@code role.title()}, {@code content.split('</think>')[-1]}, ...).
 * jinja2 lets templates call any method of a Python object; jinjava only finds Java methods, and
 * Java's {@code String} lacks most of these names or means something else by them ({@code split}
 * takes a regex). {@link PyStringResolver} routes the calls here.
 *
 * <p>Indices ({@code find}, {@code start}/{@code end} arguments) count code points, as Python does.
 *
 * <p>This class is the table of names; the methods live by family in {@link PyCase},
 * {@link PyStripPad}, {@link PySplitJoin} and {@link PyFindReplace}, their arguments are bound by
 * {@link PyArgs}.
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
                PyArgs a = new PyArgs(name, args, "chars");
                return PyStripPad.strip(self, a.str(0, null), true, true);
            }
            case "lstrip": {
                PyArgs a = new PyArgs(name, args, "chars");
                return PyStripPad.strip(self, a.str(0, null), true, false);
            }
            case "rstrip": {
                PyArgs a = new PyArgs(name, args, "chars");
                return PyStripPad.strip(self, a.str(0, null), false, true);
            }
            case "upper":
                new PyArgs(name, args);
                return self.toUpperCase(Locale.ROOT);
            case "lower":
                new PyArgs(name, args);
                return self.toLowerCase(Locale.ROOT);
            case "casefold":
                new PyArgs(name, args);
                return self.toUpperCase(Locale.ROOT).toLowerCase(Locale.ROOT);
            case "title":
                new PyArgs(name, args);
                return PyCase.title(self);
            case "capitalize":
                new PyArgs(name, args);
                return PyCase.capitalize(self);
            case "swapcase":
                new PyArgs(name, args);
                return PyCase.swapcase(self);
            case "startswith": {
                PyArgs a = new PyArgs(name, args, "prefix", "start", "end");
                return PyFindReplace.affix(self, a, true);
            }
            case "endswith": {
                PyArgs a = new PyArgs(name, args, "suffix", "start", "end");
                return PyFindReplace.affix(self, a, false);
            }
            case "split": {
                PyArgs a = new PyArgs(name, args, "sep", "maxsplit");
                return PySplitJoin.split(self, a.str(0, null), a.integer(1, -1));
            }
            case "rsplit": {
                PyArgs a = new PyArgs(name, args, "sep", "maxsplit");
                return PySplitJoin.rsplit(self, a.str(0, null), a.integer(1, -1));
            }
            case "splitlines": {
                PyArgs a = new PyArgs(name, args, "keepends");
                return PySplitJoin.splitlines(self, a.truthy(0, false));
            }
            case "replace": {
                PyArgs a = new PyArgs(name, args, "old", "new", "count");
                return PyFindReplace.replace(self, a.requiredStr(0), a.requiredStr(1), a.integer(2, -1));
            }
            case "join": {
                PyArgs a = new PyArgs(name, args, "iterable");
                return PySplitJoin.join(self, a.required(0));
            }
            case "find":
            case "rfind":
            case "index":
            case "rindex": {
                PyArgs a = new PyArgs(name, args, "sub", "start", "end");
                int found = PyFindReplace.find(self, a.requiredStr(0), a.optionalInteger(1), a.optionalInteger(2),
                        name.startsWith("r"));
                if (found < 0 && name.endsWith("index")) {
                    throw new PyError("substring not found");
                }
                return (long) found;
            }
            case "count": {
                PyArgs a = new PyArgs(name, args, "sub", "start", "end");
                return PyFindReplace.count(self, a.requiredStr(0), a.optionalInteger(1), a.optionalInteger(2));
            }
            case "removeprefix": {
                PyArgs a = new PyArgs(name, args, "prefix");
                String prefix = a.requiredStr(0);
                return self.startsWith(prefix) ? self.substring(prefix.length()) : self;
            }
            case "removesuffix": {
                PyArgs a = new PyArgs(name, args, "suffix");
                String suffix = a.requiredStr(0);
                return !suffix.isEmpty() && self.endsWith(suffix)
                        ? self.substring(0, self.length() - suffix.length()) : self;
            }
            case "partition":
            case "rpartition": {
                PyArgs a = new PyArgs(name, args, "sep");
                return PySplitJoin.partition(self, a.requiredStr(0), name.startsWith("r"));
            }
            case "center":
            case "ljust":
            case "rjust": {
                PyArgs a = new PyArgs(name, args, "width", "fillchar");
                String fill = a.str(1, " ");
                if (fill.codePointCount(0, fill.length()) != 1) {
                    throw new PyError("The fill character must be exactly one character long");
                }
                return PyStripPad.pad(self, name, a.requiredInteger(0), fill);
            }
            case "zfill": {
                PyArgs a = new PyArgs(name, args, "width");
                return PyStripPad.zfill(self, a.requiredInteger(0));
            }
            case "format":
                return PyFormat.format(self, args);
            case "isspace":
                new PyArgs(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(PyCase::isSpace);
            case "isdigit":
                new PyArgs(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(PyCase::isDigit);
            case "isdecimal":
                new PyArgs(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(Character::isDigit);
            case "isnumeric":
                new PyArgs(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(PyCase::isNumeric);
            case "isalpha":
                new PyArgs(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(Character::isLetter);
            case "isalnum":
                new PyArgs(name, args);
                return !self.isEmpty() && self.codePoints().allMatch(cp -> Character.isLetter(cp) || PyCase.isNumeric(cp));
            case "isupper":
                new PyArgs(name, args);
                return self.codePoints().anyMatch(PyCase::isCased)
                        && self.codePoints().noneMatch(cp -> Character.isLowerCase(cp) || Character.isTitleCase(cp));
            case "islower":
                new PyArgs(name, args);
                return self.codePoints().anyMatch(PyCase::isCased)
                        && self.codePoints().noneMatch(cp -> Character.isUpperCase(cp) || Character.isTitleCase(cp));
            default:
                return NOT_A_METHOD;
        }
    }
}
