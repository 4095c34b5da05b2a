package io.github.align4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The natives blocks that README.md and docs/cuda.md tell a user to add are the ones that
 * examples/consumer/pom.xml holds, which .ci/run builds (CPU) and resolves and compiles (CUDA). The
 * dependency tree a project receives stays as README states it: Jackson through its BOM, jinjava without the
 * jars align4j's template sandbox never reaches, Maven Enforcer in both builds, and README's count of the
 * jars in examples/consumer/dependencies.txt (which .ci/run compares with the consumer's resolved list).
 */
class DependencyBlocksTest {
    private static final Pattern DEPENDENCY = Pattern.compile("<dependency>.*?</dependency>", Pattern.DOTALL);

    static List<String> dependencies(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = DEPENDENCY.matcher(text.replaceAll("<!--.*?-->", ""));
        while (m.find()) {
            out.add(m.group().replaceAll("\\s+", ""));
        }
        return out;
    }

    static String profile(String pom, String id) {
        int start = pom.indexOf("<id>" + id + "</id>");
        assertTrue(start > 0, "profile " + id);
        return pom.substring(start, pom.indexOf("</profile>", start));
    }

    @Test
    void readmeAndCudaDocsShowTheConsumersBlocks() throws Exception {
        String pom = Files.readString(Path.of("examples/consumer/pom.xml"));
        List<String> cpu = dependencies(profile(pom, "cpu"));
        List<String> cuda = dependencies(profile(pom, "cuda"));
        assertEquals(2, cpu.size());
        assertEquals(5, cuda.size()); // three DJL pins and two natives

        List<String> readme = dependencies(Files.readString(Path.of("README.md")));
        assertTrue(readme.containsAll(cpu), "README's CPU block differs from examples/consumer/pom.xml's cpu profile");
        List<String> docs = dependencies(Files.readString(Path.of("docs/cuda.md")));
        assertEquals(cuda, docs, "docs/cuda.md's CUDA block differs from examples/consumer/pom.xml's cuda profile");
        assertTrue(readme.contains("<dependency><groupId>io.github.align4j</groupId><artifactId>align4j</artifactId>"
                + "<version>0.1.0-SNAPSHOT</version></dependency>"));
    }

    /** The part of pom.xml after the first {@code <tag>}, up to its closing tag. */
    static String section(String pom, String tag) {
        int start = pom.indexOf("<" + tag + ">");
        assertTrue(start >= 0, "pom.xml has no <" + tag + ">");
        return pom.substring(start, pom.indexOf("</" + tag + ">", start));
    }

    @Test
    void jacksonComesFromItsBomAndEnforcerGuardsBothBuilds() throws Exception {
        String pom = Files.readString(Path.of("pom.xml")).replaceAll("<!--.*?-->", "");
        String managed = section(pom, "dependencyManagement");
        assertTrue(dependencies(managed).contains("<dependency><groupId>com.fasterxml.jackson</groupId>"
                + "<artifactId>jackson-bom</artifactId><version>${jackson.version}</version><type>pom</type>"
                + "<scope>import</scope></dependency>"), "jackson-bom is not imported in dependencyManagement");
        String declared = pom.replace(managed, "");
        List<String> jackson = dependencies(declared).stream()
                .filter(d -> d.startsWith("<dependency><groupId>com.fasterxml.jackson")).collect(Collectors.toList());
        assertEquals(3, jackson.size(), jackson.toString()); // databind, dataformat-yaml, datatype-jdk8
        for (String d : jackson) {
            assertTrue(!d.contains("<version>"), "a Jackson module with its own version, not the BOM's: " + d);
        }
        for (String file : List.of("pom.xml", "examples/consumer/pom.xml")) {
            String text = Files.readString(Path.of(file)).replaceAll("<!--.*?-->", "");
            assertTrue(text.contains("<artifactId>maven-enforcer-plugin</artifactId>")
                    && text.contains("<dependencyConvergence/>") && text.contains("<requireUpperBoundDeps/>"), file);
        }
        String jinjava = dependencies(declared).stream().filter(d -> d.contains("<artifactId>jinjava</artifactId>"))
                .findFirst().orElseThrow();
        for (String excluded : List.of("<groupId>commons-net</groupId><artifactId>commons-net</artifactId>",
                "<groupId>com.googlecode.java-ipv6</groupId><artifactId>java-ipv6</artifactId>",
                "<groupId>ch.obermuhlner</groupId><artifactId>big-math</artifactId>",
                "<groupId>org.javassist</groupId><artifactId>javassist</artifactId>",
                "<groupId>com.fasterxml.jackson.datatype</groupId><artifactId>*</artifactId>",
                "<groupId>com.google.guava</groupId><artifactId>*</artifactId>")) {
            assertTrue(jinjava.contains("<exclusion>" + excluded + "</exclusion>"), "jinjava brings back " + excluded);
        }
    }

    @Test
    void readmeCountsTheJarsAProjectReceives() throws Exception {
        List<String> jars = Files.readAllLines(Path.of("examples/consumer/dependencies.txt")).stream()
                .filter(l -> !l.isBlank() && !l.startsWith("#")).collect(Collectors.toList());
        assertEquals(24, jars.size(), "update README's count and size with the list");
        for (String banned : List.of("commons-net", "java-ipv6", "big-math", "javassist", "jsr305", "checker-qual",
                "j2objc", "derive4j", "hubspot-style", "picocli", "xchart", "duckdb", "slf4j-nop")) {
            assertTrue(jars.stream().noneMatch(j -> j.contains(":" + banned)), banned);
        }
        String readme = Files.readString(Path.of("README.md"));
        String table = readme.substring(readme.indexOf("## Dependencies, and why"), readme.indexOf("## License"));
        assertTrue(table.contains(jars.size() + " jars"), "README's table does not say " + jars.size() + " jars");
        assertTrue(readme.contains("receives: " + jars.size() + " jars"), "README's Maven section");
        for (String jar : jars) {
            String artifact = jar.split(":")[1];
            assertTrue(artifact.equals("align4j") || table.contains(artifact), "README's table does not name " + artifact);
        }
    }
}
