package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.examples.LogProbs;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Keeps the README true: its Java example is the compiled one, and its commands exist. */
class ExamplesTest {
    @TempDir
    Path tmp;

    static String readme() throws Exception {
        return Files.readString(Path.of("README.md"));
    }

    /** The code between the markers of examples/LogProbs.java, indentation removed. */
    static String exampleSnippet() throws Exception {
        List<String> lines = Files.readAllLines(Path.of("src/test/java/io/github/align4j/examples/LogProbs.java"));
        int from = -1;
        int to = -1;
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).trim().equals("// README:begin")) {
                from = i + 1;
            } else if (lines.get(i).trim().equals("// README:end")) {
                to = i;
            }
        }
        int indent = lines.get(from).length() - lines.get(from).stripLeading().length();
        StringBuilder sb = new StringBuilder();
        for (String l : lines.subList(from, to)) {
            sb.append(l.length() >= indent ? l.substring(indent) : l.strip()).append('\n');
        }
        return sb.toString();
    }

    @Test
    void readmeShowsTheCompiledExample() throws Exception {
        String snippet = exampleSnippet();
        assertTrue(readme().contains(snippet), "README.md must contain, verbatim, the code between the README markers of "
                + "src/test/java/io/github/align4j/examples/LogProbs.java:\n" + snippet);
    }

    @Test
    void exampleRuns() throws Exception {
        Path model = tmp.resolve("m");
        assertEquals(0, Cli.run("init", "--model-type", "qwen2", "--out", model.toString()).exit());
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            LogProbs.main(new String[] {model.toString()});
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(out.startsWith(" Paris."), out);
        assertEquals(2, out.lines().count(), out);
    }

    /** The Quick start has exactly two commands (in sh blocks), and .ci/run runs the first one verbatim. */
    @Test
    void quickStartMatchesCi() throws Exception {
        String readme = readme();
        int qs = readme.indexOf("## Quick start");
        assertTrue(qs >= 0, "README has a Quick start section");
        int end = readme.indexOf("\n## ", qs + 1);
        String section = readme.substring(qs, end < 0 ? readme.length() : end);
        Matcher m = Pattern.compile("```(?:sh|bash|shell)\\n(.*?)```", Pattern.DOTALL).matcher(section);
        StringBuilder commands = new StringBuilder();
        while (m.find()) {
            commands.append(m.group(1));
        }
        List<String> lines = commands.toString().lines().filter(l -> !l.isBlank() && !l.startsWith("#")).toList();
        assertEquals(2, lines.size(), "exactly two set-up commands: " + lines);
        assertEquals("mvn -B -DskipTests package && java -jar target/align4j.jar demo", lines.get(1),
                "the second command runs the main job, the study demo, on its embedded default");
        String ci = Files.readString(Path.of(".ci/run"));
        assertTrue(ci.lines().anyMatch(l -> l.trim().equals(lines.get(0))), ".ci/run must run '" + lines.get(0) + "'");
        String wf = Files.readString(Path.of(".github/workflows/ci.yml"));
        assertTrue(wf.contains(".ci/run"), "the workflow runs .ci/run");
    }
}
