package io.github.align4j.data;

import static io.github.align4j.data.FileFormatsTest.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The inspect report, as text and as JSON, holds exactly what the trainer uses. */
class InspectTest {
    @TempDir
    Path dir;

    private PreferenceData pairs() throws IOException {
        // GPT-2 prompts of 1..10 tokens ("a", "a a", ...), chosen " b" (2 with EOS), rejected " c c c" (4)
        StringBuilder sb = new StringBuilder();
        for (int n = 1; n <= 10; n++) {
            sb.append("{\"prompt\":\"").append("a ".repeat(n).strip()).append("\",\"chosen\":\" b\",\"rejected\":\" c c c\"}\n");
        }
        sb.append("{\"prompt\":\"z\",\"chosen\":\"\",\"rejected\":\" c\"}\n");
        sb.append("oops\n");
        return PreferenceData.load(write(dir.resolve("d.jsonl"), sb.toString()).toString(), DataOptions.defaults()
                .withMaxLength(10).withMaxPromptLength(5).withSkipBadRows(true).withCacheDir(dir.resolve("c")),
                Fixtures.gpt2());
    }

    @Test
    void jsonHasCountsLengthsAndExactExamples() throws IOException {
        PreferenceData d = pairs();
        ObjectNode j = Inspect.json(d, 3);
        assertEquals("standard", j.get("layout").asText());
        assertEquals(12, j.get("rows").asLong());
        assertEquals(10, j.get("kept").asLong());
        assertEquals(1, j.get("dropped").get("empty_completion").asLong());
        assertEquals(1, j.get("dropped").get("bad_row").asLong());
        assertEquals(1, j.get("bad_rows").asLong());
        // prompts 1..10 tokens; rows with prompt > 6 are cut to 5 (7+4 > 10 ...): 1,2,3,4,5,6,5,5,5,5
        JsonNode prompt = j.get("lengths").get("prompt");
        assertEquals(5, prompt.get("p50").asInt());
        assertEquals(5, prompt.get("p90").asInt());
        assertEquals(6, prompt.get("max").asInt());
        assertEquals(10, j.get("lengths_before_truncation").get("prompt").get("max").asInt());
        assertEquals(5, j.get("lengths_before_truncation").get("prompt").get("p50").asInt());
        assertEquals(9, j.get("lengths_before_truncation").get("prompt").get("p90").asInt());
        assertEquals(4, j.get("lengths").get("rejected").get("max").asInt());
        assertEquals(4, j.get("truncated").asLong());
        JsonNode ex = j.get("examples");
        assertEquals(3, ex.size());
        List<TokenizedPair> p = d.pairs();
        for (int i = 0; i < 3; i++) {
            JsonNode e = ex.get(i);
            assertEquals(d.texts().get(i).prompt(), e.get("prompt").asText());
            assertEquals(" b", e.get("chosen").asText());
            assertEquals(" c c c", e.get("rejected").asText());
            assertEquals(ids(p.get(i).prompt()), list(e.get("prompt_ids")));
            assertEquals(ids(p.get(i).chosen()), list(e.get("chosen_ids")));
            assertEquals(ids(p.get(i).rejected()), list(e.get("rejected_ids")));
        }
        assertEquals(List.of(275, 50256), list(ex.get(0).get("chosen_ids")));
        assertTrue(j.get("bad_row_messages").get(0).asText().endsWith("d.jsonl line 12: not valid JSON (malformed JSON "
                + "at column 5); each line of a JSON Lines file must be one JSON object"));
    }

    @Test
    void textShowsLayoutExamplesCutsAndStats() throws IOException {
        PreferenceData d = pairs();
        String t = Inspect.text(d, 10);
        assertTrue(t.contains("Layout: standard (pairs), plain text (no chat template)"), t);
        assertTrue(t.contains("--- PROMPT (1 tokens) ---\na\n--- CHOSEN (2 tokens, EOS appended) ---\n b<|endoftext|>\n"), t);
        // example 9: prompt of 10 tokens cut to 5 from the left
        assertTrue(t.contains("--- PROMPT (5 tokens; 5 cut from the left) ---\n[... 5 tokens cut ...] a a a a a\n"), t);
        assertTrue(t.contains("rows read: 12\n"), t);
        assertTrue(t.contains("dropped:   bad_row 1, empty_completion 1\n"), t);
        assertTrue(t.contains("truncated: 4 kept pairs (max_length 10, max_prompt_length 5)"), t);
        assertTrue(t.contains("bad row: " + dir.resolve("d.jsonl") + " line 12: not valid JSON"), t);
        String marked = Inspect.text(d, 2, true);
        assertTrue(marked.contains("--- PROMPT (2 tokens) ---\na| a\n"), marked);
        assertTrue(marked.contains(" c| c| c|<|endoftext|>"), marked);
    }

    @Test
    void unpairedLabelsAndCompletionKeys() throws IOException {
        PreferenceData d = pairs().toUnpaired(5);
        ObjectNode j = Inspect.json(d, 2);
        assertEquals(10, j.get("labels").get("true").asLong());
        assertEquals(10, j.get("labels").get("false").asLong());
        JsonNode e = j.get("examples").get(0);
        assertTrue(e.has("completion") && e.has("label") && e.has("completion_ids"), e.toString());
        assertEquals(ids(d.unpaired().get(0).completion()), list(e.get("completion_ids")));
        assertTrue(j.get("lengths").has("completion"));
        assertTrue(Inspect.text(d, 1).contains("labels:    desirable 10, undesirable 10"));

        PreferenceData kto = PreferenceData.load(Fixtures.preference("llamafactory_kto_en_demo.json").toString(),
                DataOptions.defaults().withCacheDir(dir.resolve("c")), Fixtures.phi3());
        ObjectNode k = Inspect.json(kto, 1);
        assertEquals("unpaired_messages", k.get("layout").asText());
        assertEquals(300, k.get("rows").asLong());
        assertEquals(150, k.get("labels").get("true").asLong());
        assertEquals(150, k.get("labels").get("false").asLong());
        assertTrue(k.get("chat_template").asText().endsWith("tokenizer_config.json"));
    }

    private static List<Integer> ids(int[] a) {
        return FileFormatsTest.box(a);
    }

    private static List<Integer> list(JsonNode n) {
        List<Integer> out = new ArrayList<>();
        n.forEach(x -> out.add(x.asInt()));
        return out;
    }
}
