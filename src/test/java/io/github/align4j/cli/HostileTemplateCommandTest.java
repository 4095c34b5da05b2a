package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model folder is untrusted: a tokenizer_config.json whose chat_template carries issue 10's
 * escape (read a file through jinjava's ObjectMapper, delete another) must make inspect, train,
 * logprobs and generate stop with exit 2 and a message, and leave the canary files as they were.
 */
class HostileTemplateCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MARKER = "canary-" + UUID.randomUUID();

    @TempDir
    static Path dir;

    static Path model;
    static Path data;
    static Path canary;
    static Path victim;

    @BeforeAll
    static void hostileModel() throws IOException {
        model = dir.resolve("model");
        Cli.Result r = Cli.run("init", "--model-type", "llama", "--out", model.toString(), "--seed", "3");
        assertEquals(0, r.exit(), r.toString());
        canary = dir.resolve("canary.txt");
        victim = dir.resolve("victim.txt");
        Files.writeString(canary, MARKER);
        Files.writeString(victim, MARKER);
        Path config = model.resolve("tokenizer_config.json");
        ObjectNode tc = (ObjectNode) JSON.readTree(config.toFile());
        tc.put("chat_template", "{% set om = ____int3rpr3t3r____.config.objectMapper %}{% set tf = om.getTypeFactory() %}"
                + "{% set u = om.readValue('\"file://" + canary + "\"', tf.constructFromCanonical('java.net.URL')) %}"
                + "{{ om.writeValueAsString(u.openStream().readAllBytes()) }}"
                + "{% set f = om.readValue('\"" + victim + "\"', tf.constructFromCanonical('java.io.File')) %}{{ f.delete() }}"
                + "{% for m in messages %}{{ m.content }}{% endfor %}");
        JSON.writeValue(config.toFile(), tc);
        data = dir.resolve("pairs.jsonl");
        StringBuilder rows = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            rows.append("{\"prompt\": [{\"role\": \"user\", \"content\": \"Question ").append(i).append("?\"}],"
                    + " \"chosen\": [{\"role\": \"assistant\", \"content\": \"Yes.\"}],"
                    + " \"rejected\": [{\"role\": \"assistant\", \"content\": \"No.\"}]}\n");
        }
        Files.writeString(data, rows);
    }

    @Test
    void everyCommandRefusesTheModel() throws IOException {
        List<String[]> commands = List.of(
                new String[] {"inspect", "--model", model.toString(), "--data", data.toString()},
                new String[] {"train", "--model", model.toString(), "--data", data.toString(), "--output",
                        dir.resolve("out").toString(), "--max-steps", "1", "--device", "cpu"},
                new String[] {"logprobs", "--model", model.toString(), "--data", data.toString(), "--out",
                        dir.resolve("lp.jsonl").toString(), "--device", "cpu"},
                new String[] {"generate", "--model", model.toString(), "--prompt", "Hello", "--max-new-tokens", "2",
                        "--device", "cpu"});
        for (String[] command : commands) {
            Cli.Result r = Cli.run(command);
            String all = r.out() + r.err();
            assertEquals(2, r.exit(), command[0] + ": " + r);
            assertTrue(all.contains("chat template") && all.contains("____int3rpr3t3r____"), command[0] + ": " + r);
            assertFalse(all.contains(MARKER), command[0] + ": the canary's content was read: " + r);
            assertFalse(all.contains("a bug in align4j"), command[0] + ": " + r);
            assertEquals(MARKER, Files.readString(canary));
            assertEquals(MARKER, Files.readString(victim), command[0] + " changed victim.txt");
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertFalse(files.anyMatch(p -> p.getFileName().toString().endsWith(".sh")));
        }
    }
}
