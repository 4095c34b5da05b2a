package io.github.align4j.cli;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.data.DataStats;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.internal.Devices;
import io.github.align4j.internal.TinyTokenizer;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.SequenceScorer;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.model.internal.SequenceLimits;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code align4j logprobs}: the completion log-probabilities TRL's DPOTrainer computes — the sum,
 * over the completion's tokens (EOS included), of the log-probability the model gives each token
 * after the prompt and the tokens before it — for every row of a dataset, in input order. Rows are
 * read by {@link PreferenceData} exactly as the trainer reads them.
 */
@Command(name = "logprobs", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class,
        sortOptions = false,
        description = {
            "Write the completion log-probabilities of every row of a preference dataset, one JSON line per row, in order.",
            "Paired rows (e.g. {prompt, chosen, rejected}) give {chosen_logps, rejected_logps, chosen_tokens, rejected_tokens}; "
                    + "unpaired rows (e.g. {prompt, completion, label}) give {logps, tokens}. "
                    + "Sums over completion tokens, EOS included; read, templated, tokenized and truncated as the trainer "
                    + "does (TRL's DPOTrainer: no BOS). Rows the data loader drops get null values and \"dropped\": true."
        })
final class LogprobsCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR", description = "A Hugging Face model folder: config.json, *.safetensors, tokenizer.json.")
    Path model;

    @Option(names = "--data", paramLabel = "PATH",
            description = "Rows: a JSONL, JSON, CSV or Parquet file (optionally gzipped), a folder, or a glob like 'data/*.jsonl'.")
    String data;

    @Option(names = "--out", paramLabel = "FILE", description = "Where to write the JSON lines ('-' for standard output).")
    String out;

    @Option(names = "--batch-size", defaultValue = "8", paramLabel = "N",
            description = "Rows per forward pass (a pair counts once; default: ${DEFAULT-VALUE}). Results do not depend on it beyond float rounding (a sum may differ in its last bit between batch sizes).")
    int batchSize;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|gpu|auto",
            description = "Where to run (default: ${DEFAULT-VALUE}: the GPU when DJL sees one).")
    String device;

    @Mixin
    AdapterFlags adapterFlags = new AdapterFlags();

    @Mixin
    DataArgs dataArgs = new DataArgs();

    @Option(names = "--example",
            description = "Run on a tiny random model and a few rows made on the fly (no files needed) and print everything.")
    boolean example;

    @Override
    public Integer call() throws IOException {
        if (batchSize < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--batch-size must be at least 1, got " + batchSize);
        }
        if (example) {
            return runExample();
        }
        for (Object[] req : new Object[][] {{model, "--model"}, {data, "--data"}, {out, "--out"}}) {
            if (req[0] == null) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "Missing required option '" + req[1] + "' (or use --example)");
            }
        }
        PrintWriter stdout = spec.commandLine().getOut();
        Summary s = run(model, data, out, stdout);
        PrintWriter err = spec.commandLine().getErr();
        err.println(s.describe() + "; wrote " + (out.equals("-") ? "standard output" : out));
        err.flush();
        return CliSupport.EXIT_OK;
    }

    /** What a run did. */
    record Summary(PreferenceData data, long sequences, long tokens, double seconds, Device device) {
        String describe() {
            DataStats st = data.stats();
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                    "scored %d of %d %s rows (layout %s; %d sequences, %d tokens with prompts) in %.1f s on %s",
                    st.kept(), st.rowsRead(), data.paired() ? "paired" : "unpaired", data.layout(), sequences, tokens,
                    seconds, device));
            if (st.truncated() > 0) {
                sb.append("; ").append(st.truncated()).append(" truncated (--max-length, --max-prompt-length)");
            }
            if (st.rowsRead() > st.kept()) {
                sb.append("; dropped ").append(new java.util.TreeMap<>(st.dropped()))
                        .append(", written as lines with null log-probs and \"dropped\": true");
            }
            return sb.toString();
        }
    }

    Summary run(Path modelDir, String dataFile, String outFile, PrintWriter stdout) {
        long start = System.nanoTime();
        CliSupport.existingDir(modelDir, "--model", "a Hugging Face model folder with config.json, model.safetensors and tokenizer.json");
        adapterFlags.check();
        ModelConfig config = ModelConfig.load(modelDir);
        Device dev = Devices.resolve(device);
        try (TextTokenizer tok = TextTokenizer.load(modelDir, config.eosTokenId())) {
            PreferenceData data = PreferenceData.load(dataFile, dataArgs.toOptions(), tok);
            Rows rows = Rows.of(data);
            for (int i = 0; i < rows.size(); i++) {
                SequenceLimits.checkLength(config, rows.length(i), dataFile + ": row " + rows.row[i] + " (0-based)",
                        "pass --max-length " + config.maxPositions() + " (or less) to truncate it");
            }
            try (CausalLM lm = adapterFlags.load(modelDir, dev)) {
                Scored scored = score(lm, rows, batchSize);
                long lines = data.stats().rowsRead();
                if (outFile.equals("-")) {
                    write(rows, scored, lines, stdout);
                } else {
                    CliSupport.writeAtomically(Path.of(outFile), "--out", o -> write(rows, scored, lines, o));
                }
                return new Summary(data, scored.sequences, scored.tokenTotal, (System.nanoTime() - start) / 1e9, dev);
            }
        }
    }

    /**
     * The examples to score: prompts, completions ({@code completions[0]} chosen or the
     * completion, {@code completions[1]} rejected) and each one's 0-based source row.
     */
    record Rows(boolean paired, int[][] prompts, int[][][] completions, long[] row) {
        static Rows of(PreferenceData data) {
            int n = data.size();
            int k = data.paired() ? 2 : 1;
            int[][] prompts = new int[n][];
            int[][][] completions = new int[k][n][];
            long[] row = new long[n];
            if (data.paired()) {
                List<TokenizedPair> pairs = data.pairs();
                for (int i = 0; i < n; i++) {
                    TokenizedPair p = pairs.get(i);
                    prompts[i] = p.prompt();
                    completions[0][i] = p.chosen();
                    completions[1][i] = p.rejected();
                    row[i] = p.row();
                }
            } else {
                List<TokenizedUnpaired> us = data.unpaired();
                for (int i = 0; i < n; i++) {
                    TokenizedUnpaired u = us.get(i);
                    prompts[i] = u.prompt();
                    completions[0][i] = u.completion();
                    row[i] = u.row();
                }
            }
            return new Rows(data.paired(), prompts, completions, row);
        }

        int size() {
            return prompts.length;
        }

        /** The longest sequence of example i. */
        int length(int i) {
            int m = 0;
            for (int[][] c : completions) {
                m = Math.max(m, prompts[i].length + c[i].length);
            }
            return m;
        }
    }

    /** logps[k][i] and tokens[k][i]: k = 0 chosen (or the completion), 1 rejected. */
    record Scored(float[][] logps, int[][] counts, long sequences, long tokenTotal) {}

    /**
     * Scores all rows, longest first in batches of {@code batchSize} rows (a pair is two sequences
     * in the same forward pass), each batch in its own sub-manager so memory stays flat.
     */
    static Scored score(CausalLM lm, Rows rows, int batchSize) {
        int n = rows.size();
        int k = rows.completions().length;
        int[][] prompts = rows.prompts();
        int[][][] completions = rows.completions();
        int[] length = new int[n];
        for (int i = 0; i < n; i++) {
            length[i] = rows.length(i);
        }
        // longest first: similar lengths share a batch (less padding), and a batch too big for memory fails at once
        Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingInt((Integer i) -> -length[i]).thenComparingInt(i -> i));
        float[][] logps = new float[k][n];
        int[][] tokens = new int[k][n];
        long sequences = 0;
        long tokenCount = 0;
        for (int from = 0; from < n; from += batchSize) {
            int b = Math.min(batchSize, n - from);
            int[][] seqs = new int[b * k][];
            int[] starts = new int[b * k];
            for (int r = 0; r < b; r++) {
                int i = order[from + r];
                for (int j = 0; j < k; j++) {
                    int[] p = prompts[i];
                    int[] c = completions[j][i];
                    int[] s = Arrays.copyOf(p, p.length + c.length);
                    System.arraycopy(c, 0, s, p.length, c.length);
                    seqs[j * b + r] = s;
                    starts[j * b + r] = p.length;
                    tokenCount += s.length;
                }
            }
            try (NDManager m = lm.manager().newSubManager()) {
                SequenceScorer.Scores sc = SequenceScorer.score(lm, m, seqs, starts);
                float[] lp = sc.logps().toFloatArray();
                float[] tk = sc.tokens().toFloatArray();
                for (float v : lp) {
                    if (!Float.isFinite(v)) { // never "NaN" with exit 0
                        throw lm.nonFiniteOutput("log-probabilities");
                    }
                }
                for (int r = 0; r < b; r++) {
                    int i = order[from + r];
                    for (int j = 0; j < k; j++) {
                        logps[j][i] = lp[j * b + r];
                        tokens[j][i] = Math.round(tk[j * b + r]);
                    }
                }
            }
            sequences += (long) b * k;
        }
        return new Scored(logps, tokens, sequences, tokenCount);
    }

    /** One output line: the scores of example i, or (i &lt; 0) a dropped row's nulls. */
    private static String line(boolean paired, Scored s, int i) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        if (paired) {
            put(o, "chosen_logps", s, 0, i);
            put(o, "rejected_logps", s, 1, i);
            o.put("chosen_tokens", i < 0 ? 0 : s.counts[0][i]);
            o.put("rejected_tokens", i < 0 ? 0 : s.counts[1][i]);
        } else {
            put(o, "logps", s, 0, i);
            o.put("tokens", i < 0 ? 0 : s.counts[0][i]);
        }
        if (i < 0) {
            o.put("dropped", true);
        }
        return JSON.writeValueAsString(o);
    }

    private static void put(ObjectNode o, String key, Scored s, int k, int i) {
        if (i < 0) {
            o.putNull(key);
        } else {
            o.put(key, s.logps[k][i]);
        }
    }

    /** Lines in source-row order: one per row read, dropped rows included. */
    private static void write(Rows rows, Scored s, long lines, LineSink out) throws IOException {
        int next = 0; // examples are in source-row order
        for (long r = 0; r < lines; r++) {
            if (next < rows.size() && rows.row()[next] == r) {
                out.line(line(rows.paired(), s, next++));
            } else {
                out.line(line(rows.paired(), s, -1));
            }
        }
        if (next != rows.size()) {
            throw new IllegalStateException("examples out of source-row order at " + next);
        }
    }

    private interface LineSink {
        void line(String l) throws IOException;
    }

    private static void write(Rows rows, Scored s, long lines, OutputStream out) throws IOException {
        write(rows, s, lines, l -> out.write((l + "\n").getBytes(StandardCharsets.UTF_8)));
    }

    private static void write(Rows rows, Scored s, long lines, PrintWriter out) {
        try {
            write(rows, s, lines, out::println);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        out.flush();
    }

    /** Example rows: a prompt with a helpful and an unhelpful answer. */
    static final List<String> EXAMPLE_ROWS = List.of(
            "{\"prompt\": \"Question: What is the capital of France?\\nAnswer:\", "
                    + "\"chosen\": \" The capital of France is Paris.\", \"rejected\": \" I do not know.\"}",
            "{\"prompt\": \"Question: How many days are there in a week?\\nAnswer:\", "
                    + "\"chosen\": \" There are seven days in a week.\", \"rejected\": \" Ten.\"}",
            "{\"prompt\": \"<|im_start|>user\\nWrite a short poem about the sea.<|im_end|>\\n<|im_start|>assistant\\n\", "
                    + "\"chosen\": \"The sea is grey, the sea is wide.\", \"rejected\": \"No.\"}");

    /** {@code --example}: init a tiny llama with the built-in tokenizer, score a few rows, print it all. */
    private int runExample() throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        Path tmp = Files.createTempDirectory("align4j-example");
        try {
            Path tokDir = TinyTokenizer.writeTo(tmp.resolve("tokenizer"));
            stdout.println("# in a temporary folder, deleted at the end: " + tmp);
            stdout.println("# $ align4j init --model-type llama --out tiny-llama      (with the built-in tokenizer)");
            CausalLM.Written created = CausalLM.init("llama", Map.of(), "--model-type llama", tokDir,
                    tmp.resolve("tiny-llama"), 0);
            ModelConfig cfg = created.config();
            stdout.println("# " + created.summary() + " to tiny-llama");
            Path dataFile = tmp.resolve("pairs.jsonl");
            Files.write(dataFile, (String.join("\n", EXAMPLE_ROWS) + "\n").getBytes(StandardCharsets.UTF_8));
            stdout.println("# $ cat pairs.jsonl");
            EXAMPLE_ROWS.forEach(stdout::println);
            stdout.println("# $ align4j logprobs --model tiny-llama --data pairs.jsonl --out logprobs.jsonl");
            Path outFile = tmp.resolve("logprobs.jsonl");
            dataArgs.cacheDir = tmp.resolve("cache");
            Summary s = run(tmp.resolve("tiny-llama"), dataFile.toString(), outFile.toString(), stdout);
            stdout.println("# " + s.describe());
            stdout.println("# $ cat logprobs.jsonl");
            for (String l : Files.readAllLines(outFile, StandardCharsets.UTF_8)) {
                stdout.println(l);
            }
            stdout.printf(Locale.ROOT, "# The model is untrained: about ln(1/%d) = %.2f per token. "
                    + "Train it, or point --model at a real checkpoint.%n", cfg.vocabSize(), -Math.log(cfg.vocabSize()));
            stdout.flush();
            return CliSupport.EXIT_OK;
        } finally {
            CliSupport.deleteTree(tmp);
        }
    }
}
