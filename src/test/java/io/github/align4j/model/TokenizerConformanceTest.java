package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Encodes the 83 multilingual conformance inputs of swift-transformers with the real GPT-2 and
 * Llama-2 (phi-3-mini) tokenizers and compares with the ids Python transformers 4.57.1 produced.
 */
class TokenizerConformanceTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int EXPECTED_INPUTS = 83;

    private static Path tokenizers;
    private static List<String> ids;
    private static List<String> texts;

    @BeforeAll
    static void readInputs() throws IOException {
        tokenizers = TestData.shared("data/tokenizers");
        JsonNode inputs = JSON.readTree(tokenizers.resolve("conformance/inputs.json").toFile());
        ids = new ArrayList<>();
        texts = new ArrayList<>();
        for (JsonNode n : inputs) {
            ids.add(n.get("id").asText());
            texts.add(n.get("text").asText());
        }
        assertEquals(EXPECTED_INPUTS, texts.size(), "number of conformance inputs");
    }

    /** The expected ids per input, in input order, checked against the inputs' ids. */
    private static List<int[]> expected(String file) throws IOException {
        JsonNode entries = JSON.readTree(tokenizers.resolve("conformance").resolve(file).toFile()).get("entries");
        assertEquals(texts.size(), entries.size(), file + ": number of entries");
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            JsonNode e = entries.get(i);
            assertEquals(ids.get(i), e.get("id").asText(), file + ": entry " + i + " is for another input");
            JsonNode arr = e.get("input_ids");
            int[] v = new int[arr.size()];
            for (int j = 0; j < v.length; j++) {
                v[j] = arr.get(j).asInt();
            }
            out.add(v);
        }
        return out;
    }

    private static void check(String name, TextTokenizer tok, List<int[]> expected) {
        List<String> mismatches = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            int[] got = tok.encode(texts.get(i));
            if (!Arrays.equals(expected.get(i), got)) {
                mismatches.add("#" + i + " (" + ids.get(i) + ") " + JSON.valueToTree(texts.get(i))
                        + "\n    expected " + Arrays.toString(expected.get(i))
                        + "\n    got      " + Arrays.toString(got));
            }
        }
        int pass = texts.size() - mismatches.size();
        System.out.println(name + ": " + pass + " of " + texts.size() + " conformance inputs match");
        if (!mismatches.isEmpty()) {
            fail(name + ": " + pass + " of " + texts.size() + " inputs match; mismatches:\n"
                    + String.join("\n", mismatches));
        }
    }

    @Test
    void gpt2MatchesTransformers() throws IOException {
        List<int[]> expected = expected("gpt2_multilingual.json");
        try (TextTokenizer tok = TextTokenizer.load(tokenizers.resolve("gpt2"), null)) {
            check("gpt2", tok, expected);
        }
    }

    @Test
    void llamaVocabularyMatchesTinyLlamaWithoutBos() throws IOException {
        // TinyLlama's Python tokenizer adds <s> (id 1) in front; phi-3-mini's tokenizer.json (same
        // vocabulary and normalizer) adds no special tokens, and encode() adds none anyway.
        List<int[]> withBos = expected("tinyllama_multilingual.json");
        List<int[]> expected = new ArrayList<>();
        for (int i = 0; i < withBos.size(); i++) {
            int[] e = withBos.get(i);
            assertTrue(e.length > 0 && e[0] == 1, "tinyllama entry " + i + " should start with BOS id 1");
            expected.add(Arrays.copyOfRange(e, 1, e.length));
        }
        try (TextTokenizer tok = TextTokenizer.load(tokenizers.resolve("phi-3-mini"), null)) {
            check("phi-3-mini", tok, expected);
        }
    }

    @Test
    void noTruncationAt512() {
        String text = " hello world.".repeat(1000); // GPT-2: " hello", " world", "." = 3000 tokens
        try (TextTokenizer tok = TextTokenizer.load(tokenizers.resolve("gpt2"), null)) {
            int[] got = tok.encode(text);
            assertEquals(3000, got.length, "GPT-2 token count of 1000 x ' hello world.'");
            int[] block = Arrays.copyOfRange(got, 0, 3);
            for (int k = 0; k < 1000; k++) {
                assertArrayEquals(block, Arrays.copyOfRange(got, 3 * k, 3 * k + 3), "token block " + k);
            }
            assertEquals(text, tok.decode(got, false), "decode(encode(text)) must give the whole text back");
        }
        try (TextTokenizer tok = TextTokenizer.load(tokenizers.resolve("phi-3-mini"), null)) {
            int[] got = tok.encode(text);
            assertTrue(got.length >= 3000, "expected at least 3000 tokens, got " + got.length);
            assertEquals(text, tok.decode(got, false), "decode(encode(text)) must give the whole text back");
        }
    }

    @Test
    void phi3SpecialTokensComeFromTokenizerConfig() throws IOException {
        Path dir = tokenizers.resolve("phi-3-mini");
        JsonNode cfg = JSON.readTree(dir.resolve("tokenizer_config.json").toFile());
        String eosText = cfg.get("eos_token").asText();
        try (TextTokenizer tok = TextTokenizer.load(dir, 999)) {
            assertEquals(eosText, tok.specialTokens().get("eos_token"));
            Integer eos = tok.tokenId(eosText);
            assertEquals(32000, eos, eosText + " should be id 32000 in the phi-3-mini vocabulary");
            assertEquals(eos, tok.eosId(), "eosId must be the id of tokenizer_config.json's eos_token, not the fallback");
            assertEquals(1, tok.bosId(), "bos <s>");
            assertEquals(1, tok.tokenId("<s>"));
            assertEquals(eos, tok.padId(), "pad_token is " + cfg.get("pad_token").asText());
            assertTrue(tok.chatTemplate() != null && tok.chatTemplate().contains("<|assistant|>"), "chat template");
        }
    }

    @Test
    void eosFromTokenizerConfigWinsOverFallback() {
        // gpt2's tokenizer_config.json names <|endoftext|> (50256) as eos, so the fallback is unused.
        try (TextTokenizer tok = TextTokenizer.load(tokenizers.resolve("gpt2"), 7)) {
            assertEquals(50256, tok.eosId());
        }
    }

    @Test
    void fallbackEosWithoutTokenizerConfig(@TempDir Path tmp) throws IOException {
        Files.copy(tokenizers.resolve("gpt2/tokenizer.json"), tmp.resolve("tokenizer.json"));
        try (TextTokenizer tok = TextTokenizer.load(tmp, 7)) {
            assertEquals(7, tok.eosId());
            assertEquals(null, tok.bosId());
        }
    }
}
