package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.example.LoraDpo;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * examples/java/com/example/LoraDpo.java (LoRA-DPO with a held-out split, a listener, the adapter saved, merged, scored)
 * runs; README quotes its three blocks verbatim; and they stay as short as TRL's: training in ≤ 15 lines with merge and
 * scoring, scoring alone in ≤ 3.
 */
class LoraDpoExampleTest {
    @TempDir
    Path tmp;

    /** The lines between {@code // README:NAME:begin} and {@code :end} of the example, indentation removed. */
    static List<String> block(String name) throws Exception {
        List<String> lines = Files.readAllLines(Path.of("examples/java/com/example/LoraDpo.java"));
        int from = lines.indexOf(lines.stream().filter(l -> l.trim().equals("// README:" + name + ":begin")).findFirst().orElseThrow()) + 1;
        int to = lines.indexOf(lines.stream().filter(l -> l.trim().equals("// README:" + name + ":end")).findFirst().orElseThrow());
        int indent = lines.get(from).length() - lines.get(from).stripLeading().length();
        List<String> out = new ArrayList<>();
        for (String l : lines.subList(from, to)) {
            out.add(l.length() >= indent ? l.substring(indent) : l.strip());
        }
        return out;
    }

    @Test
    void readmeQuotesTheBlocksAndTheyAreShort() throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        int total = 0;
        for (String name : List.of("train", "merge", "score")) {
            List<String> b = block(name);
            assertTrue(readme.contains(String.join("\n", b) + "\n"), "README.md quotes the " + name + " block of LoraDpo.java:\n"
                    + String.join("\n", b));
            total += b.size();
        }
        assertTrue(total <= 15, "LoRA-DPO with split, listener, save, merge and scoring in " + total + " lines (TRL: ~12)");
        assertTrue(block("score").size() <= 3, "scoring completions in " + block("score").size() + " lines");
    }

    @Test
    void theExampleRunsEndToEnd() throws Exception {
        Path model = tmp.resolve("model");
        CausalLM.init("llama", Map.of("hidden_size", 32, "intermediate_size", 64, "num_hidden_layers", 1,
                "num_attention_heads", 4, "num_key_value_heads", 2, "max_position_embeddings", 128), null, model, 5);
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            rows.add("{\"prompt\": \"Question " + i + ": is the sky blue?\\nAnswer:\", \"chosen\": \" Yes, it is blue.\", "
                    + "\"rejected\": \" No" + ".".repeat(i % 3 + 1) + "\"}");
        }
        Path data = tmp.resolve("pairs.jsonl");
        Files.write(data, rows, StandardCharsets.UTF_8);
        Path out = tmp.resolve("out");
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            LoraDpo.main(new String[] {model.toString(), data.toString(), out.toString()});
        } finally {
            System.setOut(old);
        }
        String printed = buf.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("step 20: held-out accuracy"), printed);
        assertTrue(Files.isRegularFile(out.resolve("final/adapter_model.safetensors")));
        assertTrue(Files.isRegularFile(out.resolve("merged/model.safetensors")) && Files.isRegularFile(out.resolve("merged/tokenizer.json")));
        // the merged model scores as the base with the adapter does
        double[] merged;
        try (CausalLM lm = CausalLM.load(out.resolve("merged"), CausalLM.Options.inference());
                TextTokenizer tok = TextTokenizer.load(out.resolve("merged"))) {
            merged = lm.score(tok, "Question: What is the capital of France?\nAnswer:", " Paris.", " I do not know.");
        }
        double[] adapted;
        try (CausalLM lm = CausalLM.load(model, CausalLM.Options.inference()).loadAdapter(out.resolve("final"), false);
                TextTokenizer tok = TextTokenizer.load(model)) {
            adapted = lm.score(tok, "Question: What is the capital of France?\nAnswer:", " Paris.", " I do not know.");
        }
        assertEquals(2, merged.length);
        assertEquals(adapted[0], merged[0], 1e-4);
        assertEquals(adapted[1], merged[1], 1e-4);
        assertTrue(printed.contains(String.format(java.util.Locale.ROOT, "log p(Paris.) = %.4f", merged[0]))
                || printed.contains(String.format("log p(Paris.) = %.4f", merged[0])), printed);
    }
}
