package io.github.align4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.github.align4j.cli.Main;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.SafeTensors;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.TrainConfig;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every reader of user files, fed seeded random mutations of valid inputs (truncations, flipped,
 * inserted, deleted and duplicated bytes, huge numbers, deep nesting, random bytes): each input is
 * read within a time limit, and either works or fails with an {@link Align4jException} whose
 * message names the file; never a hang, an OutOfMemoryError or any other exception.
 */
class FuzzTest {
    static {
        Offline.ensure();
    }

    static final int CASES = 250;
    static final Duration LIMIT = Duration.ofSeconds(10);

    @TempDir
    static Path dir;
    static Path model;
    static TextTokenizer tok;
    static Path template;

    @BeforeAll
    static void setUp() throws Exception {
        Path cfg = dir.resolve("cfg.json");
        Files.writeString(cfg, "{\"hidden_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
                + "\"num_key_value_heads\": 1, \"intermediate_size\": 32}");
        model = dir.resolve("model");
        assertEquals(0, Main.commandLine().execute("init", "--model-type", "llama", "--config", cfg.toString(),
                "--out", model.toString(), "--seed", "1"));
        tok = TextTokenizer.load(model, null);
        template = dir.resolve("chat.jinja");
        Files.writeString(template, "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                + "{% if add_generation_prompt %}<|assistant|>{% endif %}");
    }

    @AfterAll
    static void tearDown() {
        if (tok != null) {
            tok.close();
        }
    }

    /** Reads one input file; throws whatever the reader throws. */
    interface Reader {
        void read(Path file) throws Exception;
    }

    // ---- mutations ---------------------------------------------------------------------------------

    static final byte[] STRUCTURAL = "{}[]\",:\n\r\t \\'-#0123456789eE.+abcnulltruefalse\u00ff".getBytes(StandardCharsets.ISO_8859_1);

    static byte[] mutate(byte[] seed, Random r) {
        byte[] b = seed.clone();
        int rounds = 1 + r.nextInt(3);
        for (int k = 0; k < rounds; k++) {
            int n = b.length;
            switch (r.nextInt(10)) {
                case 0 -> b = Arrays.copyOf(b, n == 0 ? 0 : r.nextInt(n)); // truncated
                case 1 -> { // flipped bits
                    for (int i = 0, m = 1 + r.nextInt(8); i < m && n > 0; i++) {
                        b[r.nextInt(n)] ^= (byte) (1 << r.nextInt(8));
                    }
                }
                case 2 -> { // inserted bytes, often JSON/YAML syntax
                    int at = n == 0 ? 0 : r.nextInt(n + 1);
                    byte[] ins = new byte[1 + r.nextInt(6)];
                    for (int i = 0; i < ins.length; i++) {
                        ins[i] = r.nextBoolean() ? STRUCTURAL[r.nextInt(STRUCTURAL.length)] : (byte) r.nextInt(256);
                    }
                    b = splice(b, at, at, ins);
                }
                case 3 -> { // deleted range
                    if (n > 1) {
                        int at = r.nextInt(n);
                        b = splice(b, at, Math.min(n, at + 1 + r.nextInt(Math.max(1, n / 4))), new byte[0]);
                    }
                }
                case 4 -> { // duplicated range
                    if (n > 1) {
                        int at = r.nextInt(n);
                        int end = Math.min(n, at + 1 + r.nextInt(Math.max(1, n / 3)));
                        b = splice(b, end, end, Arrays.copyOfRange(b, at, end));
                    }
                }
                case 5 -> { // a number made huge, negative or odd
                    String[] odd = {"99999999999999999999999", "-1", "1e999", "-0", "NaN", "0", "4294967296", "9223372036854775807"};
                    int at = firstDigit(b, r);
                    if (at >= 0) {
                        int end = at;
                        while (end < b.length && Character.isDigit(b[end])) {
                            end++;
                        }
                        b = splice(b, at, end, odd[r.nextInt(odd.length)].getBytes(StandardCharsets.US_ASCII));
                    }
                }
                case 6 -> { // deep nesting
                    int at = n == 0 ? 0 : r.nextInt(n + 1);
                    String open = r.nextBoolean() ? "[" : "{\"a\":";
                    b = splice(b, at, at, open.repeat(2000 + r.nextInt(100_000)).getBytes(StandardCharsets.US_ASCII));
                }
                case 7 -> { // random bytes
                    b = new byte[r.nextInt(2000)];
                    r.nextBytes(b);
                }
                case 8 -> { // a line or field repeated many times (size, not content)
                    if (n > 0) {
                        int at = r.nextInt(n);
                        int end = Math.min(n, at + 1 + r.nextInt(40));
                        byte[] chunk = Arrays.copyOfRange(b, at, end);
                        byte[] rep = new byte[chunk.length * (100 + r.nextInt(2000))];
                        for (int i = 0; i < rep.length; i++) {
                            rep[i] = chunk[i % chunk.length];
                        }
                        b = splice(b, end, end, rep);
                    }
                }
                default -> { // a byte replaced by a quote, a NUL, an invalid UTF-8 byte or a newline
                    if (n > 0) {
                        byte[] pick = {'"', 0, (byte) 0xC3, (byte) 0xFF, '\n', '\\'};
                        b[r.nextInt(n)] = pick[r.nextInt(pick.length)];
                    }
                }
            }
        }
        return b;
    }

    /** How a seed is structured, for mutations that keep the syntax and change the values. */
    enum Shape { BYTES, JSON, JSONL, YAML, SAFETENSORS }

    static final ObjectMapper JSON = new ObjectMapper();
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /** A valid document with one value replaced by something odd (falls back to a byte mutation). */
    static byte[] mutateValue(byte[] seed, Shape shape, Random r) {
        try {
            switch (shape) {
                case JSON, YAML -> {
                    ObjectMapper m = shape == Shape.JSON ? JSON : YAML;
                    JsonNode root = m.readTree(seed);
                    return m.writeValueAsBytes(replaceOne(root, r));
                }
                case JSONL -> {
                    String[] lines = new String(seed, StandardCharsets.UTF_8).split("\n");
                    int i = r.nextInt(lines.length);
                    lines[i] = JSON.writeValueAsString(replaceOne(JSON.readTree(lines[i]), r));
                    return utf8(String.join("\n", lines) + "\n");
                }
                case SAFETENSORS -> {
                    ByteBuffer b = ByteBuffer.wrap(seed).order(ByteOrder.LITTLE_ENDIAN);
                    int n = (int) b.getLong(0);
                    JsonNode header = JSON.readTree(Arrays.copyOfRange(seed, 8, 8 + n));
                    byte[] h = JSON.writeValueAsBytes(replaceOne(header, r));
                    ByteBuffer out = ByteBuffer.allocate(8 + h.length + seed.length - 8 - n).order(ByteOrder.LITTLE_ENDIAN);
                    out.putLong(h.length).put(h).put(seed, 8 + n, seed.length - 8 - n);
                    return out.array();
                }
                default -> {
                    return mutate(seed, r);
                }
            }
        } catch (Exception e) {
            return mutate(seed, r);
        }
    }

    /** The tree with one randomly chosen value (or key's value) replaced. */
    static JsonNode replaceOne(JsonNode root, Random r) {
        List<JsonNode> containers = new ArrayList<>();
        collect(root, containers);
        JsonNode odd = oddValue(r);
        if (containers.isEmpty()) {
            return odd;
        }
        JsonNode c = containers.get(r.nextInt(containers.size()));
        if (c instanceof ObjectNode o) {
            List<String> names = new ArrayList<>();
            o.fieldNames().forEachRemaining(names::add);
            if (names.isEmpty() || r.nextInt(8) == 0) {
                o.set(r.nextBoolean() ? "extra_" + r.nextInt(100) : "", odd);
            } else if (r.nextInt(8) == 0) {
                o.remove(names.get(r.nextInt(names.size())));
            } else {
                o.set(names.get(r.nextInt(names.size())), odd);
            }
        } else if (c instanceof ArrayNode a) {
            if (a.isEmpty() || r.nextInt(6) == 0) {
                a.add(odd);
            } else {
                a.set(r.nextInt(a.size()), odd);
            }
        }
        return root;
    }

    static void collect(JsonNode n, List<JsonNode> out) {
        if (n.isContainerNode()) {
            out.add(n);
            n.forEach(c -> collect(c, out));
        }
    }

    static JsonNode oddValue(Random r) {
        var f = JSON.getNodeFactory();
        return switch (r.nextInt(16)) {
            case 0 -> f.nullNode();
            case 1 -> f.booleanNode(r.nextBoolean());
            case 2 -> f.textNode("");
            case 3 -> f.textNode("x".repeat(1 + r.nextInt(200_000)));
            case 4 -> f.numberNode(-1);
            case 5 -> f.numberNode(0);
            case 6 -> f.numberNode(Integer.MAX_VALUE + 1L);
            case 7 -> f.numberNode(Long.MAX_VALUE);
            case 8 -> f.numberNode(1e308);
            case 9 -> f.numberNode(new java.math.BigInteger("123456789012345678901234567890"));
            case 10 -> f.numberNode(0.5);
            case 11 -> f.arrayNode();
            case 12 -> f.objectNode();
            case 13 -> f.arrayNode().add(1).add(-2).add(3);
            case 14 -> f.textNode("<|im_end|>\u0000\uFFFF\uD800");
            default -> {
                ArrayNode deep = f.arrayNode();
                ArrayNode cur = deep;
                for (int i = 0; i < 40; i++) {
                    cur = cur.addArray();
                }
                yield deep;
            }
        };
    }

    static int firstDigit(byte[] b, Random r) {
        if (b.length == 0) {
            return -1;
        }
        int start = r.nextInt(b.length);
        for (int i = 0; i < b.length; i++) {
            int j = (start + i) % b.length;
            if (Character.isDigit(b[j])) {
                return j;
            }
        }
        return -1;
    }

    static byte[] splice(byte[] b, int from, int to, byte[] ins) {
        byte[] out = new byte[b.length - (to - from) + ins.length];
        System.arraycopy(b, 0, out, 0, from);
        System.arraycopy(ins, 0, out, from, ins.length);
        System.arraycopy(b, to, out, from + ins.length, b.length - to);
        return out;
    }

    // ---- the harness -------------------------------------------------------------------------------

    /**
     * Feeds {@code cases} mutations of each seed to the reader, each in a fresh folder as
     * {@code fileName}, next to the {@code companions} (copied from the tiny model folder).
     */
    static void fuzz(String name, String fileName, List<byte[]> seeds, long rngSeed, List<String> companions, Shape shape,
            Reader reader) throws Exception {
        Random r = new Random(rngSeed);
        int ok = 0;
        int refused = 0;
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < CASES; i++) {
            byte[] seed = seeds.get(i % seeds.size());
            byte[] input = i < seeds.size() ? seed
                    : shape != Shape.BYTES && r.nextInt(10) < 4 ? mutateValue(seed, shape, r) : mutate(seed, r);
            Path caseDir = dir.resolve(name + "-" + i);
            Files.createDirectories(caseDir);
            for (String c : companions) {
                Files.copy(model.resolve(c), caseDir.resolve(c));
            }
            Path file = caseDir.resolve(fileName);
            Files.write(file, input);
            Throwable thrown = null;
            try {
                assertTimeoutPreemptively(LIMIT, () -> reader.read(file), () -> "hangs");
            } catch (Throwable t) {
                thrown = t;
            }
            if (thrown == null) {
                ok++;
            } else if (thrown instanceof Align4jException a && a.getMessage() != null
                    && a.getMessage().contains(fileName) && !a.getMessage().contains("\tat ")) {
                refused++;
                if (Boolean.getBoolean("fuzz.verbose")) {
                    System.out.println(name + " " + i + ": " + a.getMessage().replace(dir.toString(), "DIR"));
                }
            } else {
                Path kept = dir.resolve("failed-" + name + "-" + i + "-" + fileName);
                Files.write(kept, input);
                failures.add("case " + i + " (" + input.length + " bytes, kept as " + kept + "): "
                        + (thrown instanceof Align4jException ? "message does not name " + fileName + ": " : "")
                        + thrown.getClass().getName() + ": " + String.valueOf(thrown.getMessage()).lines().findFirst().orElse("")
                        + (thrown.getCause() != null ? " (caused by " + thrown.getCause() + ")" : ""));
            }
            deleteTree(caseDir);
        }
        if (!failures.isEmpty()) {
            throw new AssertionError(name + ": " + failures.size() + " of " + CASES + " inputs failed badly:\n"
                    + String.join("\n", failures.subList(0, Math.min(20, failures.size()))));
        }
        System.out.printf("fuzz %s: %d inputs, %d read, %d refused with a message naming the file%n", name, CASES, ok, refused);
        if (refused < CASES / 4) {
            throw new AssertionError(name + ": only " + refused + " of " + CASES + " mutated inputs were refused; the "
                    + "mutations do not exercise the reader");
        }
    }

    static void deleteTree(Path p) throws Exception {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    // ---- the readers -------------------------------------------------------------------------------

    static void loadData(Path file) {
        DataOptions o = DataOptions.defaults().withCacheDir(dir.resolve("cache")).withChatTemplateFile(template);
        PreferenceData.load(file.toString(), o, tok);
    }

    @Test
    void jsonlData() throws Exception {
        fuzz("jsonl", "train.jsonl", List.of(
                utf8("{\"prompt\": \"Say hi.\", \"chosen\": \"Hi!\", \"rejected\": \"No.\"}\n"
                        + "{\"prompt\": \"Count.\", \"chosen\": \"One, two.\", \"rejected\": \"Five\"}\n"),
                utf8("{\"prompt\": [{\"role\": \"user\", \"content\": \"Hi?\"}], \"chosen\": [{\"role\": \"assistant\", "
                        + "\"content\": \"Hello.\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"Go.\"}]}\n"),
                utf8("{\"prompt\": \"Is it?\", \"completion\": \"Yes.\", \"label\": true}\n"
                        + "{\"prompt\": \"Is it not?\", \"completion\": \"No.\", \"label\": false}\n"),
                utf8("{\"system\": \"Be brief.\", \"question\": \"Why?\", \"chosen\": \"Because.\", \"rejected\": \"Hm.\"}\n")),
                11, List.of(), Shape.JSONL, FuzzTest::loadData);
    }

    @Test
    void jsonData() throws Exception {
        fuzz("json", "train.json", List.of(
                utf8("[{\"conversations\": [{\"from\": \"human\", \"value\": \"Hi?\"}], \"chosen\": {\"from\": \"gpt\", "
                        + "\"value\": \"Hello.\"}, \"rejected\": {\"from\": \"gpt\", \"value\": \"Go.\"}}]"),
                utf8("[{\"chosen\": \"Human: hi Assistant: hello\", \"rejected\": \"Human: hi Assistant: go\"}]"),
                utf8("[{\"input\": {\"messages\": [{\"role\": \"user\", \"content\": \"Q?\"}]}, \"preferred_output\": "
                        + "[{\"role\": \"assistant\", \"content\": \"A.\"}], \"non_preferred_output\": [{\"role\": "
                        + "\"assistant\", \"content\": \"B.\"}]}]")),
                12, List.of(), Shape.JSON, FuzzTest::loadData);
    }

    @Test
    void csvData() throws Exception {
        fuzz("csv", "train.csv", List.of(
                utf8("prompt,chosen,rejected\n\"Say hi.\",\"Hi, you!\",No.\nCount.,\"One \"\"two\"\"\",Five\n"),
                utf8("prompt,completion,label\nIs it?,Yes.,true\nIs it not?,No.,false\n")),
                13, List.of(), Shape.BYTES, FuzzTest::loadData);
    }

    @Test
    void safetensors() throws Exception {
        Path seedDir = dir.resolve("st-seed");
        List<SafeTensors.Entry> entries = List.of(
                entry("a.weight", new long[] {2, 3}), entry("b.bias", new long[] {4}), entry("scalar", new long[] {}));
        SafeTensors.write(seedDir, entries, SafeTensors.DType.F32, Long.MAX_VALUE);
        byte[] f32 = Files.readAllBytes(seedDir.resolve("model.safetensors"));
        SafeTensors.write(seedDir, entries, SafeTensors.DType.BF16, Long.MAX_VALUE);
        byte[] bf16 = Files.readAllBytes(seedDir.resolve("model.safetensors"));
        fuzz("safetensors", "model.safetensors", List.of(f32, bf16), 14, List.of(), Shape.SAFETENSORS, file -> {
            try (SafeTensors.Checkpoint c = SafeTensors.open(file.getParent())) {
                for (String n : c.names()) {
                    ByteBuffer b = c.get(n).asFloat32();
                    for (int i = 0; i + 4 <= b.limit(); i += 4) {
                        b.getFloat(i);
                    }
                }
            }
        });
    }

    static SafeTensors.Entry entry(String name, long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        int count = (int) n;
        return new SafeTensors.Entry(name, shape, () -> {
            ByteBuffer b = ByteBuffer.allocate(count * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < count; i++) {
                b.putFloat(i * 0.5f - 1);
            }
            return b.flip();
        });
    }

    @Test
    void configJson() throws Exception {
        fuzz("config", "config.json", List.of(Files.readAllBytes(model.resolve("config.json")),
                utf8("{\"model_type\": \"gpt2\", \"n_embd\": 16, \"n_layer\": 1, \"n_head\": 2, \"vocab_size\": 50, "
                        + "\"n_positions\": 64}"),
                utf8("{\"model_type\": \"llama\", \"hidden_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
                        + "\"vocab_size\": 40, \"intermediate_size\": 32, \"rope_scaling\": {\"rope_type\": \"llama3\", "
                        + "\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                        + "\"original_max_position_embeddings\": 8192}}")),
                15, List.of(), Shape.JSON, file -> ModelConfig.load(file.getParent()));
    }

    @Test
    void tokenizerConfigJson() throws Exception {
        fuzz("tokenizer_config", "tokenizer_config.json", List.of(Files.readAllBytes(model.resolve("tokenizer_config.json")),
                utf8("{\"bos_token\": {\"content\": \"<s>\", \"lstrip\": false}, \"eos_token\": \"</s>\", "
                        + "\"pad_token\": null, \"chat_template\": \"{% for m in messages %}{{ m['content'] }}{% endfor %}\", "
                        + "\"model_max_length\": 2048}")),
                16, List.of("tokenizer.json"), Shape.JSON, file -> {
                    try (TextTokenizer t = TextTokenizer.load(file.getParent(), null)) {
                        t.encode("hello there");
                    }
                });
    }

    @Test
    void recipes() throws Exception {
        fuzz("recipe", "recipe.yaml", List.of(Files.readAllBytes(Path.of("recipes/zephyr-7b-beta/dpo.yaml")),
                utf8("beta: 0.1\nlearning_rate: 5.0e-7\nloss_type: kto\ndesirable_weight: 1.33\nper_device_train_batch_size: 4\n"
                        + "bf16: true\nloss_weights: {dpo: 1, sft: 0.5}\n")),
                17, List.of(), Shape.YAML, file -> TrainConfig.fromYaml(file, TrainConfig.defaults(), new ArrayList<>()));
    }
}
