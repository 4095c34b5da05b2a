package io.github.align4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Dependencies between align4j's packages point one way (docs/architecture.md): cli → eval → train → loss,
 * model, data; data → model; {@code internal} is below all. Every mention of another align4j package in
 * src/main (import or fully qualified name) is checked against that table.
 */
class PackageLayersTest {
    private static final Path SOURCES = Path.of("src/main/java/io/github/align4j");
    private static final Pattern REFERENCE = Pattern.compile("io\\.github\\.align4j\\.([a-z]+)");

    /** The align4j packages each package may use (besides itself and the root package's Align4jException). */
    private static final Map<String, Set<String>> ALLOWED = Map.of(
            "internal", Set.of(),
            "loss", Set.of("internal"),
            "model", Set.of("internal"),
            "data", Set.of("internal", "model"),
            "train", Set.of("internal", "loss", "model", "data"),
            "eval", Set.of("internal", "loss", "model", "data", "train"),
            "cli", Set.of("internal", "loss", "model", "data", "train", "eval"));

    /** "model/Pass.java -> loss" for each file that reaches a package it may not. */
    static List<String> violations(Path root) throws IOException {
        List<String> out = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java")).sorted()::iterator) {
                Path rel = root.relativize(f);
                if (rel.getNameCount() < 2) {
                    continue; // the root package (Align4jException, package-info)
                }
                String pkg = rel.getName(0).toString();
                Set<String> allowed = ALLOWED.get(pkg);
                assertTrue(allowed != null, "a package the layer table does not know: " + pkg
                        + " (add it to PackageLayersTest and docs/architecture.md)");
                Set<String> used = new TreeSet<>();
                Matcher m = REFERENCE.matcher(Files.readString(f));
                while (m.find()) {
                    used.add(m.group(1));
                }
                for (String u : used) {
                    if (!u.equals(pkg) && !allowed.contains(u)) {
                        out.add(rel.toString().replace('\\', '/') + " -> " + u);
                    }
                }
            }
        }
        return out;
    }

    @Test
    void dependenciesPointOneWay() throws IOException {
        assertTrue(Files.isDirectory(SOURCES.resolve("model")), "run from the project's root");
        assertEquals(List.of(), violations(SOURCES));
    }

    @Test
    void aModelFileThatImportsLossIsCaught(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("model"));
        Files.createDirectories(dir.resolve("loss"));
        Files.writeString(dir.resolve("model/Pass.java"),
                "package io.github.align4j.model;\nimport io.github.align4j.loss.Scalars;\nclass Pass {}\n");
        Files.writeString(dir.resolve("model/Rope.java"), "package io.github.align4j.model;\n"
                + "class Rope { Object o = io.github.align4j.train.TrainConfig.class; }\n");
        Files.writeString(dir.resolve("loss/Dpo.java"),
                "package io.github.align4j.loss;\nimport io.github.align4j.internal.Scalars;\nclass Dpo {}\n");
        assertEquals(List.of("model/Pass.java -> loss", "model/Rope.java -> train"), violations(dir));
    }
}
