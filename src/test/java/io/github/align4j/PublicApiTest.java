package io.github.align4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The public API is exactly the table in docs/architecture.md, section "Public API": every public
 * top-level type of the compiled library outside the internal packages (and the command line's
 * {@code cli.Main}) has a row there, and every row names a public type. Javadoc leaves out the
 * internal packages: pom.xml's {@code excludePackageNames} must cover each of them.
 */
class PublicApiTest {
    private static final Path CLASSES = Path.of("target/classes");
    private static final Path DOC = Path.of("docs/architecture.md");
    private static final String ROOT = "io.github.align4j";
    private static final Pattern ROW = Pattern.compile("^\\| `([A-Za-z0-9_.]+)` \\|", Pattern.MULTILINE);

    /** The names the doc's "Public API" table lists, relative to io.github.align4j (model.CausalLM). */
    static Set<String> listed(String markdown) {
        int start = markdown.indexOf("\n## Public API\n");
        assertTrue(start >= 0, "docs/architecture.md has no \"## Public API\" section");
        int end = markdown.indexOf("\n## ", start + 1);
        Matcher m = ROW.matcher(markdown.substring(start, end < 0 ? markdown.length() : end));
        Set<String> out = new TreeSet<>();
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    /** Whether a package (relative to io.github.align4j) is internal: a segment named internal. */
    static boolean internal(String pkg) {
        return List.of(pkg.split("\\.")).contains("internal");
    }

    /** What is wrong, one sentence a finding, given the listed names and the public types found. */
    static List<String> problems(Set<String> listed, Set<String> publicTypes) {
        List<String> out = new ArrayList<>();
        for (String t : publicTypes) {
            if (!listed.contains(t)) {
                out.add(ROOT + "." + t + " is public but not in docs/architecture.md's \"Public API\" table: make it "
                        + "package-private, or move it to an internal package if other align4j packages need it, or, "
                        + "if a Java user needs it, add a row saying who uses it");
            }
        }
        for (String t : listed) {
            if (!publicTypes.contains(t)) {
                out.add(ROOT + "." + t + " is listed in docs/architecture.md's \"Public API\" table but is not a "
                        + "public type of the library (any more): remove its row, or make it public");
            }
        }
        return out;
    }

    /** Public top-level types under classes/io/github/align4j, relative names, internal packages and cli.Main left out. */
    static Set<String> publicTypes(Path classes) throws IOException, ClassNotFoundException {
        Path base = classes.resolve(ROOT.replace('.', '/'));
        Set<String> out = new TreeSet<>();
        List<Path> files;
        try (Stream<Path> s = Files.walk(base)) {
            files = s.filter(p -> p.toString().endsWith(".class")).sorted().toList();
        }
        for (Path f : files) {
            String rel = base.relativize(f).toString().replace('\\', '/');
            String name = rel.substring(0, rel.length() - ".class".length()).replace('/', '.');
            String simple = name.substring(name.lastIndexOf('.') + 1);
            String pkg = name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : "";
            if (simple.contains("$") || simple.equals("package-info") || internal(pkg) || name.equals("cli.Main")) {
                continue;
            }
            Class<?> c = Class.forName(ROOT + "." + name, false, PublicApiTest.class.getClassLoader());
            if (Modifier.isPublic(c.getModifiers())) {
                out.add(name);
            }
        }
        return out;
    }

    /** Packages (relative) holding classes, for the javadoc check. */
    static Set<String> packages(Path classes) throws IOException {
        Path base = classes.resolve(ROOT.replace('.', '/'));
        Set<String> out = new TreeSet<>();
        try (Stream<Path> s = Files.walk(base)) {
            s.filter(p -> p.toString().endsWith(".class")).forEach(p -> {
                Path dir = base.relativize(p.getParent());
                out.add(dir.toString().replace('\\', '/').replace('/', '.'));
            });
        }
        return out;
    }

    /**
     * Whether maven-javadoc-plugin's excludePackageNames leaves a package out: a pattern matches the
     * package or a parent; a leading * stands for one or more segments, any other * for exactly one.
     */
    static boolean excluded(String pkg, String excludePackageNames) {
        for (String p : excludePackageNames.split("[,:;]")) {
            p = p.trim();
            if (p.isEmpty()) {
                continue;
            }
            String regex = Pattern.quote(p).replace("*", "\\E[^.]+\\Q");
            if (p.startsWith("*")) {
                regex = "[^.]+(?:\\.[^.]+)*" + Pattern.quote(p.substring(1)).replace("*", "\\E[^.]+\\Q");
            }
            if (pkg.matches(regex + "(?:\\..+)?")) {
                return true;
            }
        }
        return false;
    }

    @Test
    void thePublicTypesAreExactlyTheDocumentedOnes() throws Exception {
        assertTrue(Files.isDirectory(CLASSES.resolve("io/github/align4j/model")), "run from the project's root after compiling");
        Set<String> found = publicTypes(CLASSES);
        assertTrue(found.contains("model.CausalLM") && found.contains("Align4jException"), found.toString());
        assertEquals(List.of(), problems(listed(Files.readString(DOC)), found));
    }

    @Test
    void javadocLeavesOutEveryInternalPackageAndTheCommandLine() throws Exception {
        Matcher m = Pattern.compile("<excludePackageNames>([^<]*)</excludePackageNames>").matcher(Files.readString(Path.of("pom.xml")));
        assertTrue(m.find(), "pom.xml: no excludePackageNames in the javadoc plugin's configuration");
        String patterns = m.group(1);
        List<String> shown = new ArrayList<>();
        for (String pkg : packages(CLASSES)) {
            String full = pkg.isEmpty() ? ROOT : ROOT + "." + pkg;
            boolean hidden = internal(pkg) || pkg.equals("cli");
            if (hidden != excluded(full, patterns)) {
                shown.add(full + (hidden ? " is internal but javadoc shows it" : " is API but javadoc leaves it out"));
            }
        }
        assertEquals(List.of(), shown, "pom.xml's excludePackageNames (" + patterns + ")");
    }

    /** The check itself: an undocumented public type and a stale row are both named, with what to do. */
    @Test
    void anUndocumentedTypeAndAStaleRowAreCaught() {
        String doc = "# Architecture\n\n## Public API\n\n| type | who uses it |\n|---|---|\n| `Align4jException` | all |\n"
                + "| `model.CausalLM` | load |\n| `model.Gone` | was removed |\n\n## The model package\n\n| `model.Later` | not API |\n";
        Set<String> listed = listed(doc);
        assertEquals(Set.of("Align4jException", "model.CausalLM", "model.Gone"), listed);
        List<String> p = problems(listed, new TreeSet<>(Set.of("Align4jException", "model.CausalLM", "model.Devices")));
        assertEquals(2, p.size(), p.toString());
        assertTrue(p.get(0).startsWith("io.github.align4j.model.Devices is public but not in docs/architecture.md")
                && p.get(0).contains("move it to an internal package"), p.get(0));
        assertTrue(p.get(1).startsWith("io.github.align4j.model.Gone is listed") && p.get(1).contains("remove its row"), p.get(1));
    }

    @Test
    void javadocPatternsFollowThePluginsWildcards() {
        String patterns = "io.github.align4j.internal:io.github.align4j.*.internal:io.github.align4j.cli";
        assertTrue(excluded("io.github.align4j.internal", patterns));
        assertTrue(excluded("io.github.align4j.model.internal", patterns));
        assertTrue(excluded("io.github.align4j.cli", patterns));
        assertTrue(!excluded("io.github.align4j.model", patterns));
        assertTrue(!excluded("io.github.align4j.data.template", patterns));
        assertTrue(!excluded("io.github.align4j.data.template.internal", patterns), "* stands for one segment only");
        assertTrue(excluded("io.github.align4j.data.template.internal", "*.internal"), "a leading * for one or more");
        assertTrue(!excluded("io.github.align4j.model", "io.github.align4j.internal:io.github.align4j.cli"));
    }
}
