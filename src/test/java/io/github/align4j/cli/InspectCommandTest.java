package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.TestData;
import org.junit.jupiter.api.Test;

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
}
