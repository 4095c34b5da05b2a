package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InspectCommandTest {
    @Test
    void jsonReportOfTheKtoDemo() throws Exception {
        Cli.Result r = Cli.run("inspect", "--model", TestData.shared("data/tokenizers/phi-3-mini").toString(),
                "--data", TestData.shared("data/preference/llamafactory_kto_en_demo.json").toString(), "--limit", "2", "--json");
        assertEquals(0, r.exit(), r.toString());
        JsonNode n = new ObjectMapper().readTree(r.out());
        assertEquals("unpaired_messages", n.get("layout").asText());
        assertEquals(300, n.get("rows").asInt());
        assertEquals(150, n.get("labels").get("true").asInt());
        assertEquals(150, n.get("labels").get("false").asInt());
        assertEquals(2, n.get("examples").size());
        JsonNode ex = n.get("examples").get(0);
        assertTrue(ex.get("prompt").asText().contains("<|user|>"), ex.toString());
        assertTrue(ex.get("completion_ids").isArray() && ex.get("completion_ids").size() > 0);
        assertTrue(n.has("kept") && n.has("dropped") && n.has("lengths"));
    }

    @Test
    void textReportShowsLayoutAndStats() {
        Cli.Result r = Cli.run("inspect", "--model", TestData.shared("data/tokenizers/phi-3-mini").toString(),
                "--data", TestData.shared("data/preference/torchtune_stack_exchange_paired_tiny.json").toString(),
                "--columns", "prompt=question,chosen=response_j,rejected=response_k", "--limit", "1");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("standard"), r.out());
        assertTrue(r.out().contains("25"), r.out());
    }

    /**
     * {@code --cache-dir D} means the same folder to every command: the tokenized data inspect
     * caches under D/tokenized is what train then reads (it used to look in D/tokenized while
     * inspect wrote to D, so they never shared).
     */
    @Test
    void inspectAndTrainShareTheTokenCache(@TempDir Path tmp) throws Exception {
        Path cfg = tmp.resolve("cfg.json");
        Files.writeString(cfg, "{\"hidden_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
                + "\"num_key_value_heads\": 1, \"intermediate_size\": 32}");
        Path model = tmp.resolve("model");
        Cli.Result init = Cli.run("init", "--model-type", "llama", "--config", cfg.toString(), "--out", model.toString());
        assertEquals(0, init.exit(), init.toString());
        Path data = tmp.resolve("d.jsonl");
        Files.writeString(data, "{\"prompt\":\"Hi\",\"chosen\":\" yes\",\"rejected\":\" no\"}\n"
                + "{\"prompt\":\"Bye\",\"chosen\":\" ok\",\"rejected\":\" nope\"}\n");
        Path cache = tmp.resolve("cache");
        Cli.Result r = Cli.run("inspect", "--model", model.toString(), "--data", data.toString(), "--cache-dir", cache.toString());
        assertEquals(0, r.exit(), r.toString());
        List<Path> written;
        try (Stream<Path> s = Files.list(cache.resolve("tokenized"))) {
            written = s.toList();
        }
        assertEquals(1, written.size(), written.toString());
        assertTrue(written.get(0).getFileName().toString().endsWith(".a4jt"), written.toString());
        long mtime = Files.getLastModifiedTime(written.get(0)).toMillis();
        Cli.Result t = Cli.run("train", "--model", model.toString(), "--data", data.toString(), "--output",
                tmp.resolve("out").toString(), "--cache-dir", cache.toString(), "--max-steps", "1", "--batch-size", "2");
        assertEquals(0, t.exit(), t.toString());
        assertTrue(t.out().contains("2 kept (tokenized cache)"), t.out());
        try (Stream<Path> s = Files.list(cache.resolve("tokenized"))) {
            assertEquals(written, s.toList());
        }
        assertEquals(mtime, Files.getLastModifiedTime(written.get(0)).toMillis());
    }
}
