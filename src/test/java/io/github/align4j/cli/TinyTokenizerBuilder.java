package io.github.align4j.cli;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Makes the tiny byte-level BPE tokenizer that ships in the jar
 * ({@code src/main/resources/io/github/align4j/tiny/}) from {@code corpus.txt}, an English text
 * written for the project. {@link TinyTokenizerTest} checks that the shipped files are exactly
 * what this program makes, so the tokenizer can be rebuilt and audited:
 *
 * <pre>
 * mvn -q -B test-compile
 * java -cp target/test-classes:target/classes:$(mvn -q dependency:build-classpath -Dmdep.outputFile=/dev/stdout) \
 *     io.github.align4j.cli.TinyTokenizerBuilder src/main/resources/io/github/align4j/tiny
 * </pre>
 *
 * <p>Layout: ids 0–255 are the 256 bytes (GPT-2's byte-to-character table), then one id per
 * learned merge in merge order, then the special tokens {@code <|endoftext|>} (EOS and padding),
 * {@code <|im_start|>} and {@code <|im_end|>} (ChatML turns). Merges are learned greedily on the
 * words of the corpus split by GPT-2's pre-tokenizer regex; ties go to the lexicographically
 * smallest pair, so the result is deterministic.
 */
public final class TinyTokenizerBuilder {
    /** The vocabulary size aimed at; learning also stops when no pair occurs twice. */
    static final int TARGET_VOCAB = 1024;

    static final List<String> SPECIAL = List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>");

    /** ChatML; a generation prompt opens the assistant's turn. */
    static final String CHAT_TEMPLATE = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
            + "{{ message['content'] }}<|im_end|>\n{% endfor %}"
            + "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    /** GPT-2's pre-tokenizer split, as the Rust ByteLevel pre-tokenizer applies it. */
    private static final Pattern WORDS = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    private TinyTokenizerBuilder() {}

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : "src/main/resources/io/github/align4j/tiny");
        String corpus = Files.readString(Path.of(args.length > 1 ? args[1]
                : "src/test/resources/io/github/align4j/tiny/corpus.txt"), StandardCharsets.UTF_8);
        Files.createDirectories(out);
        Map<String, byte[]> files = build(corpus);
        for (Map.Entry<String, byte[]> f : files.entrySet()) {
            Files.write(out.resolve(f.getKey()), f.getValue());
        }
        System.out.println("wrote " + files.keySet() + " to " + out);
    }

    /** GPT-2's reversible byte → printable character table. */
    static char[] byteChars() {
        char[] map = new char[256];
        boolean[] direct = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            direct[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            direct[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            direct[b] = true;
        }
        int next = 256;
        for (int b = 0; b < 256; b++) {
            map[b] = direct[b] ? (char) b : (char) next++;
        }
        return map;
    }

    /** tokenizer.json and tokenizer_config.json, as bytes. */
    static Map<String, byte[]> build(String corpus) throws IOException {
        char[] chars = byteChars();
        // word (as byte characters) -> count, in a sorted map so that iteration order is fixed
        Map<String, Integer> counts = new TreeMap<>();
        Matcher m = WORDS.matcher(corpus.replace("\r\n", "\n"));
        while (m.find()) {
            byte[] bytes = m.group().getBytes(StandardCharsets.UTF_8);
            StringBuilder sb = new StringBuilder();
            for (byte b : bytes) {
                sb.append(chars[b & 0xff]);
            }
            counts.merge(sb.toString(), 1, Integer::sum);
        }
        List<List<String>> words = new ArrayList<>();
        List<Integer> freq = new ArrayList<>();
        for (Map.Entry<String, Integer> e : counts.entrySet()) {
            List<String> symbols = new ArrayList<>();
            for (char c : e.getKey().toCharArray()) {
                symbols.add(String.valueOf(c));
            }
            words.add(symbols);
            freq.add(e.getValue());
        }

        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(chars[b]), b);
        }
        List<String> merges = new ArrayList<>();
        while (vocab.size() + SPECIAL.size() < TARGET_VOCAB) {
            Map<String, Integer> pairs = new HashMap<>();
            for (int w = 0; w < words.size(); w++) {
                List<String> s = words.get(w);
                for (int i = 0; i + 1 < s.size(); i++) {
                    pairs.merge(s.get(i) + " " + s.get(i + 1), freq.get(w), Integer::sum);
                }
            }
            String best = null;
            int bestCount = 1;
            for (Map.Entry<String, Integer> p : pairs.entrySet()) {
                int c = p.getValue();
                if (c > bestCount || (c == bestCount && best != null && p.getKey().compareTo(best) < 0)) {
                    best = p.getKey();
                    bestCount = c;
                }
            }
            if (best == null) {
                break; // no pair occurs twice
            }
            int sp = best.indexOf(' ');
            String left = best.substring(0, sp);
            String right = best.substring(sp + 1);
            String joined = left + right;
            merges.add(best);
            vocab.putIfAbsent(joined, vocab.size());
            for (List<String> s : words) {
                for (int i = 0; i + 1 < s.size(); i++) {
                    if (s.get(i).equals(left) && s.get(i + 1).equals(right)) {
                        s.set(i, joined);
                        s.remove(i + 1);
                    }
                }
            }
        }

        List<Map<String, Object>> added = new ArrayList<>();
        Map<String, Object> addedDecoder = new LinkedHashMap<>();
        for (String t : SPECIAL) {
            int id = vocab.size();
            vocab.put(t, id);
            Map<String, Object> a = new LinkedHashMap<>();
            a.put("id", id);
            a.put("content", t);
            a.put("single_word", false);
            a.put("lstrip", false);
            a.put("rstrip", false);
            a.put("normalized", false);
            a.put("special", true);
            added.add(a);
            Map<String, Object> d = new LinkedHashMap<>(a);
            d.remove("id");
            addedDecoder.put(String.valueOf(id), d);
        }

        Map<String, Object> tok = new LinkedHashMap<>();
        tok.put("version", "1.0");
        tok.put("truncation", null);
        tok.put("padding", null);
        tok.put("added_tokens", added);
        tok.put("normalizer", null);
        tok.put("pre_tokenizer", byteLevel(false, true));
        tok.put("post_processor", byteLevel(true, false));
        tok.put("decoder", byteLevel(true, true));
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("vocab", vocab);
        model.put("merges", merges);
        tok.put("model", model);

        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("add_bos_token", false);
        cfg.put("add_eos_token", false);
        cfg.put("added_tokens_decoder", addedDecoder);
        cfg.put("bos_token", null);
        cfg.put("eos_token", "<|endoftext|>");
        cfg.put("pad_token", "<|endoftext|>");
        cfg.put("unk_token", null);
        cfg.put("chat_template", CHAT_TEMPLATE);
        cfg.put("clean_up_tokenization_spaces", false);
        cfg.put("model_max_length", 2048);
        cfg.put("tokenizer_class", "PreTrainedTokenizerFast");

        // fixed "\n" line ends so that the bytes do not depend on the platform
        ObjectWriter json = new ObjectMapper().writer(
                new DefaultPrettyPrinter().withObjectIndenter(new DefaultIndenter("  ", "\n")));
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("tokenizer.json", (json.writeValueAsString(tok) + "\n").getBytes(StandardCharsets.UTF_8));
        files.put("tokenizer_config.json", (json.writeValueAsString(cfg) + "\n").getBytes(StandardCharsets.UTF_8));
        return files;
    }

    private static Map<String, Object> byteLevel(boolean addPrefixSpace, boolean trimOffsets) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "ByteLevel");
        m.put("add_prefix_space", addPrefixSpace);
        m.put("trim_offsets", trimOffsets);
        m.put("use_regex", true);
        return m;
    }
}
