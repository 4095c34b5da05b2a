package io.github.align4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The natives blocks that README.md and docs/cuda.md tell a user to add are the ones that
 * examples/consumer/pom.xml holds, which .ci/run builds (CPU) and resolves and compiles (CUDA).
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
}
