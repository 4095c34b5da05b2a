package io.github.align4j.data;

import static io.github.align4j.data.FileFormatsTest.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each layout is detected from its columns and split into prompt and completions as TRL does. */
class LayoutsTest {
    @TempDir
    Path dir;

    private PreferenceData load(String jsonl, DataOptions o) throws IOException {
        Path f = write(dir.resolve("d" + System.nanoTime() + ".jsonl"), jsonl);
        return PreferenceData.load(f.toString(), o.withCacheDir(dir.resolve("cache")), Fixtures.phi3());
    }

    private PreferenceData load(String jsonl) throws IOException {
        return load(jsonl, DataOptions.defaults());
    }

    @Test
    void implicitPromptRule() {
        assertArrayEquals(new String[] {"\n\nHuman: Hi\n\nAssistant:", " Hello!", " Go away."},
                PairLayouts.extractPrompt("\n\nHuman: Hi\n\nAssistant: Hello!", "\n\nHuman: Hi\n\nAssistant: Go away."));
        // a shared start of the answers stays with the answers
        assertArrayEquals(new String[] {"\n\nHuman: Hi\n\nAssistant:", " I can.", " I won't."},
                PairLayouts.extractPrompt("\n\nHuman: Hi\n\nAssistant: I can.", "\n\nHuman: Hi\n\nAssistant: I won't."));
        // multi-turn: the prompt ends at the last shared assistant marker
        assertArrayEquals(new String[] {"\n\nHuman: A\n\nAssistant: B\n\nHuman: C\n\nAssistant:", " D", " E"},
                PairLayouts.extractPrompt("\n\nHuman: A\n\nAssistant: B\n\nHuman: C\n\nAssistant: D",
                        "\n\nHuman: A\n\nAssistant: B\n\nHuman: C\n\nAssistant: E"));
        // no marker: back to the last whitespace, which starts the completions
        assertArrayEquals(new String[] {"The sky is", " blue", " bluish green"},
                PairLayouts.extractPrompt("The sky is blue", "The sky is bluish green"));
        assertArrayEquals(new String[] {"Hi", " there", "!"}, PairLayouts.extractPrompt("Hi there", "Hi!"));
        assertNull(PairLayouts.extractPrompt("Yes", "No"));
    }

    @Test
    void standardAndImplicitArePlainText() throws IOException {
        PreferenceData d = load("{\"prompt\":\"Q\",\"chosen\":\" a\",\"rejected\":\" b\"}\n");
        assertEquals("standard", d.layout());
        assertEquals("Q", d.texts().get(0).prompt());
        d = load("{\"chosen\":\"\\n\\nHuman: Q\\n\\nAssistant: a\",\"rejected\":\"\\n\\nHuman: Q\\n\\nAssistant: b\"}\n");
        assertEquals("implicit_prompt", d.layout());
        assertEquals("\n\nHuman: Q\n\nAssistant:", d.texts().get(0).prompt());
        assertEquals(" a", d.texts().get(0).chosen());
    }

    @Test
    void applyChatTemplateWrapsPlainRows() throws IOException {
        PreferenceData d = load("{\"prompt\":\"Q\",\"chosen\":\"a\",\"rejected\":\"b\"}\n",
                DataOptions.defaults().withApplyChatTemplate(true));
        assertEquals("<|user|>\nQ<|end|>\n<|assistant|>\n", d.texts().get(0).prompt());
        assertEquals("a<|end|>\n<|endoftext|>", d.texts().get(0).chosen());
        assertEquals(true, d.chat());
    }

    @Test
    void conversationalWithPromptListOrStringOrNone() throws IOException {
        String u = "{\"role\":\"user\",\"content\":\"Q\"}";
        String a = "{\"role\":\"assistant\",\"content\":\"a\"}";
        String b = "{\"role\":\"assistant\",\"content\":\"b\"}";
        String want = "<|user|>\nQ<|end|>\n<|assistant|>\n";
        // TRL's conversational layout: prompt list, completions lists
        PreferenceData d = load("{\"prompt\":[" + u + "],\"chosen\":[" + a + "],\"rejected\":[" + b + "]}\n");
        assertEquals("conversational", d.layout());
        assertEquals(want, d.texts().get(0).prompt());
        assertEquals("a<|end|>\n<|endoftext|>", d.texts().get(0).chosen());
        // ultrafeedback_binarized: prompt string, whole conversations, scores kept as metadata
        d = load("{\"prompt\":\"Q\",\"chosen\":[" + u + "," + a + "],\"rejected\":[" + u + "," + b + "],"
                + "\"messages\":[" + u + "," + a + "],\"score_chosen\":8.5,\"score_rejected\":3.0,\"prompt_id\":\"x1\"}\n");
        assertEquals("conversational", d.layout());
        assertEquals(want, d.texts().get(0).prompt());
        assertEquals("b<|end|>\n<|endoftext|>", d.texts().get(0).rejected());
        assertEquals(Map.of("score_chosen", "8.5", "score_rejected", "3.0", "prompt_id", "x1"), d.texts().get(0).metadata());
        // implicit conversational prompt: the messages both conversations start with
        d = load("{\"chosen\":[" + u + "," + a + "],\"rejected\":[" + u + "," + b + "]}\n");
        assertEquals("conversational", d.layout());
        assertEquals(want, d.texts().get(0).prompt());
        assertEquals("a<|end|>\n<|endoftext|>", d.texts().get(0).chosen());
    }

    @Test
    void orcaNativeColumns() throws IOException {
        PreferenceData d = load("{\"system\":\"Be brief.\",\"question\":\"Q\",\"chosen\":\"a\",\"rejected\":\"b\"}\n"
                + "{\"system\":\"\",\"question\":\"R\",\"chosen\":\"c\",\"rejected\":\"d\"}\n");
        assertEquals("orca", d.layout());
        assertEquals("<|system|>\nBe brief.<|end|>\n<|user|>\nQ<|end|>\n<|assistant|>\n", d.texts().get(0).prompt());
        assertEquals("<|user|>\nR<|end|>\n<|assistant|>\n", d.texts().get(1).prompt(), "an empty system is left out");
    }

    @Test
    void openAiAndShareGpt() throws IOException {
        PreferenceData d = load("{\"input\":{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                + "\"text\":\"Q\"}]}]},\"preferred_output\":[{\"role\":\"assistant\",\"content\":\"a\"}],"
                + "\"non_preferred_output\":[{\"role\":\"assistant\",\"content\":\"b\"}]}\n");
        assertEquals("openai", d.layout());
        assertEquals("<|user|>\nQ<|end|>\n<|assistant|>\n", d.texts().get(0).prompt());
        d = load("{\"system\":\"S\",\"conversations\":[{\"from\":\"human\",\"value\":\"Q\"},{\"from\":\"gpt\",\"value\":"
                + "\"A\"},{\"from\":\"human\",\"value\":\"Q2\"}],\"chosen\":{\"from\":\"gpt\",\"value\":\"a\"},"
                + "\"rejected\":{\"from\":\"gpt\",\"value\":\"b\"}}\n");
        assertEquals("sharegpt", d.layout());
        assertEquals("<|system|>\nS<|end|>\n<|user|>\nQ<|end|>\n<|assistant|>\nA<|end|>\n<|user|>\nQ2<|end|>\n"
                + "<|assistant|>\n", d.texts().get(0).prompt());
        assertEquals("b<|end|>\n<|endoftext|>", d.texts().get(0).rejected());
    }

    @Test
    void unpairedPlainAndConversational() throws IOException {
        PreferenceData d = load("{\"prompt\":\"Q\",\"completion\":\" a\",\"label\":false}\n");
        assertEquals("unpaired", d.layout());
        assertEquals(false, d.unpaired().get(0).desirable());
        assertEquals(" a", d.texts().get(0).completion());
        assertEquals(false, d.chat());
        d = load("{\"prompt\":[{\"role\":\"user\",\"content\":\"Q\"}],\"completion\":[{\"role\":\"assistant\","
                + "\"content\":\"a\"}],\"label\":true}\n");
        assertEquals("unpaired", d.layout());
        assertEquals(true, d.chat());
        assertEquals("<|user|>\nQ<|end|>\n<|assistant|>\n", d.texts().get(0).prompt());
        assertEquals("a<|end|>\n<|endoftext|>", d.texts().get(0).completion());
    }

    @Test
    void formatForcesALayout() throws IOException {
        // a row with prompt/chosen/rejected and a label column: auto picks standard; forcing unpaired needs completion
        PreferenceData d = load("{\"prompt\":\"Q\",\"completion\":\" a\",\"label\":true,\"chosen\":\" x\",\"rejected\":\" y\"}\n",
                DataOptions.defaults().withFormat("unpaired"));
        assertEquals("unpaired", d.layout());
        assertEquals(" a", d.texts().get(0).completion());
    }
}
