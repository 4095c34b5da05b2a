package io.github.align4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.model.TextTokenizer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every real dataset in shared/data/preference loads with its row count, layout and exact texts. */
class RealDatasetsTest {
    private static final int EOS = 32000; // <|endoftext|> of phi-3-mini

    @TempDir
    Path cache;

    private PreferenceData load(String file, DataOptions o) {
        return PreferenceData.load(Fixtures.preference(file).toString(), o.withCacheDir(cache), Fixtures.phi3());
    }

    private static JsonNode raw(String file) throws Exception {
        return new ObjectMapper().readTree(Fixtures.preference(file).toFile());
    }

    @Test
    void hhRlhfIsImplicitPromptWithAssistantTurnBoundary() {
        PreferenceData d = load("hh-rlhf_harmless-base_test.jsonl.gz", DataOptions.defaults());
        assertEquals("implicit_prompt", d.layout());
        assertTrue(d.paired());
        assertEquals(2312, d.stats().rowsRead());
        assertEquals(2312, d.size());
        assertEquals(0, d.stats().badRows());
        RenderedExample t = d.texts().get(0);
        assertTrue(t.prompt().startsWith("\n\nHuman: what are some pranks with a pen i can do?\n\nAssistant: Are you"));
        assertTrue(t.prompt().endsWith("\n\nHuman: okay some of these do not have anything to do with pens\n\nAssistant:"));
        assertEquals(" No, sorry!  All of these involve a pen, the point is that you can get funny results by doing "
                + "pranks with pens.", t.chosen());
        assertTrue(t.rejected().startsWith(" There are lots of funny things you can do with pens"));
        for (RenderedExample x : d.texts()) {
            assertTrue(x.prompt().endsWith("\n\nAssistant:"), "row " + x.row());
        }
        // ids: prompt and completion tokenized separately, EOS appended, nothing cut in row 0
        TokenizedPair p = d.pairs().get(0);
        TextTokenizer tok = Fixtures.phi3();
        assertArrayEquals(tok.encode(t.prompt()), p.prompt());
        assertArrayEquals(PreferenceData.withEos(tok.encode(t.chosen()), EOS), p.chosen());
        assertArrayEquals(PreferenceData.withEos(tok.encode(t.rejected()), EOS), p.rejected());
        assertEquals(0, p.row());
        assertEquals(2311, d.pairs().get(2311).row());
    }

    @Test
    void orcaPairsInOpenAiLayoutGoThroughTheTemplate() {
        PreferenceData d = load("orca_dpo_pairs_validation.aoai.jsonl", DataOptions.defaults());
        assertEquals("openai", d.layout());
        assertEquals(284, d.size());
        assertTrue(d.chat());
        RenderedExample t = d.texts().get(0);
        assertEquals("<|system|>\nYou are an AI assistant. User will you give you a task. Your goal is to complete the "
                + "task as faithfully as you can. While performing the task think step-by-step and justify your steps."
                + "<|end|>\n<|user|>\nMM. Georges Colombier, Samad Seyidov (pour un rappel au Règlement), M. Davit "
                + "Harutyunyan et M. Serhiy Holovaty.\n\nTranslate to English<|end|>\n<|assistant|>\n", t.prompt());
        assertTrue(t.chosen().startsWith("Step 1: Identify the names and phrases in the given text."));
        // the phi-3 template closes a conversation with eos_token; TRL appends EOS on top of it
        assertTrue(t.chosen().endsWith("Mr. Serhiy Holovaty.<|end|>\n<|endoftext|>"));
        int[] chosen = d.pairs().get(0).chosen();
        assertEquals(EOS, chosen[chosen.length - 1]);
        assertEquals(EOS, chosen[chosen.length - 2]);
        // <|assistant|> is declared rstrip in tokenizer_config.json: it absorbs the "\n" after it
        int[] prompt = d.pairs().get(0).prompt();
        assertEquals(32001, prompt[prompt.length - 1]);
    }

    @Test
    void llamaFactoryDpoDemoIsShareGpt() throws Exception {
        PreferenceData d = load("llamafactory_dpo_en_demo.json", DataOptions.defaults().withMaxLength(0));
        assertEquals("sharegpt", d.layout());
        assertEquals(300, d.size());
        JsonNode rows = raw("llamafactory_dpo_en_demo.json");
        // every prompt renders every turn of 'conversations' (plus 'system' when present)
        int withSystem = 0;
        int multiTurn = 0;
        for (int i = 0; i < 300; i++) {
            JsonNode r = rows.get(i);
            StringBuilder want = new StringBuilder();
            if (r.hasNonNull("system") && !r.get("system").asText().isEmpty()) {
                want.append("<|system|>\n").append(r.get("system").asText()).append("<|end|>\n");
                withSystem++;
            }
            int userTurns = 0;
            for (JsonNode m : r.get("conversations")) {
                withSystem += m.get("from").asText().equals("system") ? 1 : 0;
                userTurns += m.get("from").asText().equals("human") ? 1 : 0;
                String from = m.get("from").asText();
                String role = from.equals("human") ? "user" : from.equals("gpt") ? "assistant" : from;
                want.append("<|").append(role).append("|>\n").append(m.get("value").asText()).append("<|end|>\n");
            }
            multiTurn += userTurns > 1 ? 1 : 0;
            want.append("<|assistant|>\n");
            RenderedExample t = d.texts().get(i);
            assertEquals(want.toString(), t.prompt(), "row " + i);
            assertEquals(r.get("chosen").get("value").asText() + "<|end|>\n<|endoftext|>", t.chosen(), "row " + i);
            assertEquals(r.get("rejected").get("value").asText() + "<|end|>\n<|endoftext|>", t.rejected(), "row " + i);
        }
        assertEquals(0, d.stats().truncated(), "max_length 0 means no limit");
        assertTrue(withSystem > 0, "some rows have a system turn");
        assertTrue(multiTurn > 0, "some rows are multi-turn");
    }

    @Test
    void llamaFactoryKtoDemoIsUnpairedMessages() {
        PreferenceData d = load("llamafactory_kto_en_demo.json", DataOptions.defaults());
        assertEquals("unpaired_messages", d.layout());
        assertFalse(d.paired());
        assertEquals(300, d.size());
        List<TokenizedUnpaired> u = d.unpaired();
        assertEquals(150, u.stream().filter(TokenizedUnpaired::desirable).count());
        assertEquals(150, u.stream().filter(x -> !x.desirable()).count());
        assertTrue(u.get(0).desirable());
        RenderedExample t = d.texts().get(0);
        assertTrue(t.prompt().startsWith("<|user|>\nThe Federal Trade Commission is going after spyware"));
        assertTrue(t.prompt().endsWith("I think the answer is<|end|>\n<|assistant|>\n"));
        assertTrue(t.completion().startsWith("Ooh ooh ah ah! *giggle*"));
        assertEquals(Boolean.TRUE, t.desirable());
        assertEquals(1, d.texts().get(1).row());
    }

    @Test
    void torchtuneStackExchangeWithColumnMapping() throws Exception {
        PreferenceData d = load("torchtune_stack_exchange_paired_tiny.json",
                DataOptions.defaults().withColumns("prompt=question,chosen=response_j,rejected=response_k"));
        assertEquals("standard", d.layout());
        assertEquals(25, d.size());
        assertFalse(d.chat());
        JsonNode rows = raw("torchtune_stack_exchange_paired_tiny.json");
        for (int i = 0; i < 25; i++) {
            RenderedExample t = d.texts().get(i);
            assertEquals(rows.get(i).get("question").asText(), t.prompt());
            assertEquals(rows.get(i).get("response_j").asText(), t.chosen());
            assertEquals(rows.get(i).get("response_k").asText(), t.rejected());
        }
        // without the mapping the columns fit no layout, and the error says how to map them
        var e = org.junit.jupiter.api.Assertions.assertThrows(io.github.align4j.Align4jException.class,
                () -> load("torchtune_stack_exchange_paired_tiny.json", DataOptions.defaults()));
        assertTrue(e.getMessage().contains("torchtune_stack_exchange_paired_tiny.json row 0"), e.getMessage());
        assertTrue(e.getMessage().contains("[question, response_j, response_k]"), e.getMessage());
        assertTrue(e.getMessage().contains("--columns"), e.getMessage());
    }
}
