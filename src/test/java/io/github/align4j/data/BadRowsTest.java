package io.github.align4j.data;

import static io.github.align4j.data.FileFormatsTest.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.model.TextTokenizer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each kind of bad input stops with one message naming file, line or row, field and what was expected. */
class BadRowsTest {
    private static final String HINT = ". Fix the row, or skip and count bad rows with --skip-bad-rows (DataOptions.withSkipBadRows).";
    private static final String GOOD = "{\"prompt\":\"Hi\",\"chosen\":\" yes\",\"rejected\":\" no\"}\n";

    @TempDir
    Path dir;

    private DataOptions opts() {
        return DataOptions.defaults().withCacheDir(dir.resolve("cache"));
    }

    private String error(Path file, DataOptions o, TextTokenizer tok) {
        return assertThrows(Align4jException.class, () -> PreferenceData.load(file.toString(), o, tok)).getMessage();
    }

    private String error(String name, String text) throws IOException {
        return error(write(dir.resolve(name), text), opts(), Fixtures.gpt2());
    }

    @Test
    void invalidJson() throws IOException {
        Path f = dir.resolve("d.jsonl");
        String m = error("d.jsonl", GOOD + GOOD + "{\"prompt\": \"Hi\", \"chosen\": }\n");
        assertTrue(m.startsWith(f + " line 3: not valid JSON (malformed JSON at column 28)"), m); // never the row's text
        assertFalse(m.contains("'}'"), m);
        assertTrue(m.endsWith(HINT), m);
        m = error("t.jsonl", GOOD + "{\"prompt\":\"Hi\",\"chosen\":\" a\",\"rejected\":\" b\"} trailing\n");
        assertTrue(m.startsWith(dir.resolve("t.jsonl") + " line 2: not valid JSON"), m);
        m = error("n.jsonl", GOOD + "[1, 2]\n");
        assertEquals(dir.resolve("n.jsonl") + " line 2: expected a JSON object {...}, got a list" + HINT, m);
    }

    @Test
    void jsonArraySyntaxErrorStopsTheFile() throws IOException {
        Path f = dir.resolve("a.json");
        String m = error("a.json", "[" + GOOD + "," + GOOD + ", {\"prompt\": }]");
        assertTrue(m.startsWith(f + " row 2 (line 3): not valid JSON"), m);
        assertTrue(m.contains("convert it to JSON Lines"), m);
    }

    @Test
    void missingField() throws IOException {
        assertEquals(dir.resolve("d.jsonl") + " line 2, field 'rejected': missing; expected a string (rename a "
                + "column with --columns rejected=yourColumn, or DataOptions.withColumns)" + HINT,
                error("d.jsonl", GOOD + "{\"prompt\":\"Hi\",\"chosen\":\" yes\"}\n"));
        // with a column mapping the message names the source column
        String m = error(write(dir.resolve("m.jsonl"), "{\"q\":\"Hi\",\"good\":\" yes\",\"bad\":\" no\"}\n"
                + "{\"q\":\"Hi\",\"bad\":\" no\"}\n"), opts().withColumns("prompt=q,chosen=good,rejected=bad"),
                Fixtures.gpt2());
        assertEquals(dir.resolve("m.jsonl") + " line 2, field 'good' (mapped to 'chosen'): missing; expected a string"
                + HINT, m);
    }

    @Test
    void wronglyTypedField() throws IOException {
        assertEquals(dir.resolve("d.jsonl") + " line 1, field 'chosen': expected a string, got the number 3" + HINT,
                error("d.jsonl", "{\"prompt\":\"Hi\",\"chosen\":3,\"rejected\":\" no\"}\n"));
        assertEquals(dir.resolve("o.jsonl") + " line 2, field 'rejected': expected a string, got an object" + HINT,
                error("o.jsonl", GOOD + "{\"prompt\":\"Hi\",\"chosen\":\" a\",\"rejected\":{}}\n"));
    }

    @Test
    void emptyPromptListAndBadMessages() throws IOException {
        String good = "{\"prompt\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"chosen\":[{\"role\":\"assistant\","
                + "\"content\":\"a\"}],\"rejected\":[{\"role\":\"assistant\",\"content\":\"b\"}]}\n";
        Path f = write(dir.resolve("c.jsonl"), good + "{\"prompt\":[],\"chosen\":[{\"role\":\"assistant\","
                + "\"content\":\"a\"}],\"rejected\":[{\"role\":\"assistant\",\"content\":\"b\"}]}\n");
        assertEquals(f + " line 2, field 'prompt': expected a non-empty list of messages, got an empty list" + HINT,
                error(f, opts(), Fixtures.phi3()));
        f = write(dir.resolve("m.jsonl"), good + "{\"prompt\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"chosen\":"
                + "[{\"role\":\"assistant\"}],\"rejected\":[{\"role\":\"assistant\",\"content\":\"b\"}]}\n");
        assertEquals(f + " line 2, field 'chosen', message 0: 'content' must be a string, got nothing" + HINT,
                error(f, opts(), Fixtures.phi3()));
        f = write(dir.resolve("s.json"), "[{\"conversations\":[{\"from\":\"human\",\"value\":\"Hi\"}],"
                + "\"chosen\":{\"from\":\"gpt\",\"value\":\"a\"},\"rejected\":{\"from\":\"robot\",\"value\":\"b\"}}]");
        assertEquals(f + " row 0, field 'rejected', message 0: unknown 'from' value 'robot'; expected one of [human, "
                + "user, gpt, assistant, bot, model, system, function_call, observation, tool]" + HINT,
                error(f, opts(), Fixtures.phi3()));
    }

    @Test
    void roleTheTemplateRejects() throws IOException {
        // mistral-instruct (princeton-nlp/SimPO chat_templates.json) raises on a system message
        String template = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
                + "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/"
                + "assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + "
                + "' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}"
                + "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
        Path t = write(dir.resolve("mistral.jinja"), template);
        Path f = write(dir.resolve("orca.jsonl"),
                "{\"system\":\"\",\"question\":\"Hi\",\"chosen\":\"a\",\"rejected\":\"b\"}\n"
                + "{\"system\":\"Be brief.\",\"question\":\"Hi\",\"chosen\":\"a\",\"rejected\":\"b\"}\n");
        String m = error(f, opts().withChatTemplateFile(t), Fixtures.phi3());
        assertTrue(m.startsWith(f + " line 2, field 'question': the chat template (" + t + ") rejects the prompt "
                + "messages: "), m);
        assertTrue(m.contains("Conversation roles must alternate"), m);
        assertTrue(m.endsWith(HINT), m);
        // the first row (no system message) renders as mistral-instruct does
        PreferenceData d = PreferenceData.load(f.toString(), opts().withChatTemplateFile(t).withSkipBadRows(true),
                Fixtures.phi3());
        assertEquals("<s>[INST] Hi [/INST]", d.texts().get(0).prompt());
        assertEquals("a<|endoftext|>", d.texts().get(0).chosen()); // phi-3-mini's eos_token
        assertEquals(1, d.stats().badRows());
    }

    @Test
    void invalidUtf8() throws IOException {
        byte[] bad = "{\"prompt\":\"caf\u00e9 \",\"chosen\":\" a\",\"rejected\":\" b\"}\n".getBytes(StandardCharsets.ISO_8859_1);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(GOOD.getBytes(StandardCharsets.UTF_8));
        b.write(bad);
        Path f = Files.write(dir.resolve("u.jsonl"), b.toByteArray());
        assertEquals(f + " line 2: invalid UTF-8 at byte 15 of the line; the file must be UTF-8 encoded (re-save it "
                + "as UTF-8)" + HINT, error(f, opts(), Fixtures.gpt2()));

        // a JSON array: the bad byte is pinned to its row, even across the reader's buffers
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < 3000; i++) {
            sb.append(GOOD.strip()).append(",\n");
        }
        ByteArrayOutputStream a = new ByteArrayOutputStream();
        a.write(sb.toString().getBytes(StandardCharsets.UTF_8));
        int offset = a.size() + 11;
        a.write(bad, 0, bad.length - 1);
        a.write("]".getBytes(StandardCharsets.UTF_8));
        Path arr = Files.write(dir.resolve("u.json"), a.toByteArray());
        assertEquals(arr + " row 3000: invalid UTF-8 at byte " + (offset + 3) + " of the file; the file must be UTF-8 "
                + "encoded (re-save it as UTF-8)" + HINT, error(arr, opts(), Fixtures.gpt2()));
        PreferenceData d = PreferenceData.load(arr.toString(), opts().withSkipBadRows(true), Fixtures.gpt2());
        assertEquals(3000, d.size());
        assertEquals(3001, d.stats().rowsRead());

        // CSV: the field is named
        ByteArrayOutputStream c = new ByteArrayOutputStream();
        c.write("prompt,chosen,rejected\nHi,\" a\",\" b\"\nHi,\" caf".getBytes(StandardCharsets.UTF_8));
        c.write(0xe9);
        c.write("\",\" b\"\n".getBytes(StandardCharsets.UTF_8));
        Path csv = Files.write(dir.resolve("u.csv"), c.toByteArray());
        assertEquals(csv + " line 3: field 'chosen': invalid UTF-8 at byte 5 of the field; the file must be UTF-8 "
                + "encoded (re-save it as UTF-8)" + HINT, error(csv, opts(), Fixtures.gpt2()));
    }

    @Test
    void labelNotABoolean() throws IOException {
        String ok = "{\"prompt\":\"Hi\",\"completion\":\" yes\",\"label\":true}\n";
        assertEquals(dir.resolve("k.jsonl") + " line 2, field 'label': expected true or false (a JSON boolean), got the "
                + "string \"yes\"" + HINT, error("k.jsonl", ok + "{\"prompt\":\"Hi\",\"completion\":\" no\",\"label\":\"yes\"}\n"));
        assertEquals(dir.resolve("n.jsonl") + " line 2, field 'label': expected true or false (a JSON boolean), got the "
                + "number 1" + HINT, error("n.jsonl", ok + "{\"prompt\":\"Hi\",\"completion\":\" no\",\"label\":1}\n"));
    }

    @Test
    void skipBadRowsCountsThemAndKeepsTheRest() throws IOException {
        Path f = write(dir.resolve("d.jsonl"), GOOD + "not json\n" + "{\"prompt\":\"Hi\",\"chosen\":7,\"rejected\":\" b\"}\n"
                + GOOD + "{\"prompt\":\"Hi\",\"chosen\":\"\",\"rejected\":\" b\"}\n");
        PreferenceData d = PreferenceData.load(f.toString(), opts().withSkipBadRows(true), Fixtures.gpt2());
        assertEquals(2, d.size());
        assertEquals(List.of(0L, 3L), d.pairs().stream().map(TokenizedPair::row).toList());
        DataStats s = d.stats();
        assertEquals(5, s.rowsRead());
        assertEquals(2, s.kept());
        assertEquals(2, s.badRows());
        assertEquals(Map.of("bad_row", 2L, "empty_completion", 1L), s.dropped());
        assertTrue(s.badRowMessages().get(0).startsWith(f + " line 2: not valid JSON"), s.badRowMessages().get(0));
        assertEquals(f + " line 3, field 'chosen': expected a string, got the number 7", s.badRowMessages().get(1));
    }

    @Test
    void emptyDatasetAfterFilteringIsAnError() throws IOException {
        Path f = write(dir.resolve("d.jsonl"), GOOD + GOOD);
        String m = error(f, opts().withMaxLength(1).withMaxPromptLength(0), Fixtures.gpt2());
        assertTrue(m.startsWith(f + ": no usable rows: 2 read, dropped {prompt_too_long=2}."), m);
        assertTrue(m.contains("raise max_length"), m);
        Path empty = write(dir.resolve("e.jsonl"), "\n\n");
        assertEquals(empty + ": the dataset has no rows.", error(empty, opts(), Fixtures.gpt2()));
    }

    @Test
    void chatRowsWithoutATemplate() throws IOException {
        Path f = write(dir.resolve("k.json"), "[{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},"
                + "{\"role\":\"assistant\",\"content\":\"Yo\"}],\"label\":true}]");
        String m = error(f, opts(), Fixtures.gpt2());
        assertTrue(m.startsWith(f + " row 0: layout 'unpaired_messages' holds chat messages, which need a chat "
                + "template, but the model folder " + Fixtures.shared().resolve("data/tokenizers/gpt2") + " has none"), m);
        assertTrue(m.contains("--chat-template FILE"), m);
        // plain rows with apply_chat_template, too
        Path p = write(dir.resolve("p.jsonl"), GOOD);
        m = error(p, opts().withApplyChatTemplate(true), Fixtures.gpt2());
        assertTrue(m.contains("--chat-template FILE"), m);
    }

    @Test
    void templateWhosePromptIsNotAPrefix() throws IOException {
        Path t = write(dir.resolve("odd.jinja"), "{% for m in messages %}{{ m['content'] }}{% endfor %}"
                + "{% if add_generation_prompt %}<gen>{% endif %}");
        Path f = write(dir.resolve("d.jsonl"), GOOD);
        String m = error(f, opts().withApplyChatTemplate(true).withChatTemplateFile(t), Fixtures.gpt2());
        assertTrue(m.startsWith(f + " line 1, field 'chosen': expected the rendered prompt (template with "
                + "add_generation_prompt=true) to be the start of the rendered prompt + completion"), m);
    }

    @Test
    void unknownFormatAndNoEos() throws IOException {
        Path f = write(dir.resolve("d.jsonl"), GOOD);
        Align4jException e = assertThrows(Align4jException.class,
                () -> PreferenceData.load(f.toString(), opts().withFormat("alpaca"), Fixtures.gpt2()));
        assertEquals("Unknown dataset format 'alpaca': expected auto or one of [standard, implicit_prompt, "
                + "conversational, orca, openai, sharegpt, unpaired, unpaired_messages].", e.getMessage());
        // a forced layout: every row must fit it
        String m = error(f, opts().withFormat("unpaired"), Fixtures.gpt2());
        assertTrue(m.startsWith(f + " line 1, field 'completion': missing"), m);

        Path tokDir = dir.resolve("tok");
        Files.createDirectories(tokDir);
        Files.copy(Fixtures.shared().resolve("data/tokenizers/gpt2/tokenizer.json"), tokDir.resolve("tokenizer.json"));
        Files.writeString(tokDir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<|endoftext|>\"}");
        try (TextTokenizer noEos = TextTokenizer.load(tokDir, null)) {
            m = error(f, opts(), noEos);
            assertTrue(m.startsWith(tokDir.resolve("tokenizer_config.json") + ": the tokenizer has no EOS token"), m);
        }
    }
}
