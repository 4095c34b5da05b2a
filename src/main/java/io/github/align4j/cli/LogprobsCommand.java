package io.github.align4j.cli;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.Devices;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.SequenceScorer;
import io.github.align4j.model.TextTokenizer;
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
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code align4j logprobs}: the completion log-probabilities TRL's DPOTrainer computes — the sum,
 * over the completion's tokens (EOS included), of the log-probability the model gives each token
 * after the prompt and the tokens before it — for every row of a JSONL file, in input order.
 */
@Command(name = "logprobs", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class,
        sortOptions = false,
        description = {
            "Write the completion log-probabilities of every row of a JSONL file, one JSON line per row, in order.",
            "Paired rows {\"prompt\",\"chosen\",\"rejected\"} give {\"chosen_logps\",\"rejected_logps\",\"chosen_tokens\",\"rejected_tokens\"}; "
                    + "unpaired rows {\"prompt\",\"completion\",\"label\"} give {\"logps\",\"tokens\"}. "
                    + "Sums over completion tokens, EOS included; tokenized as TRL's DPOTrainer does (no BOS)."
        })
final class LogprobsCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR", description = "A Hugging Face model folder: config.json, *.safetensors, tokenizer.json.")
    Path model;

    @Option(names = "--data", paramLabel = "FILE", description = "JSONL rows (.jsonl or .jsonl.gz).")
    Path data;

    @Option(names = "--out", paramLabel = "FILE", description = "Where to write the JSON lines ('-' for standard output).")
    String out;

    @Option(names = "--batch-size", defaultValue = "8", paramLabel = "N",
            description = "Rows per forward pass (a pair counts once; default: ${DEFAULT-VALUE}). Results do not depend on it.")
    int batchSize;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|gpu|auto",
            description = "Where to run (default: ${DEFAULT-VALUE}: the GPU when DJL sees one).")
    String device;

    @Option(names = "--max-length", defaultValue = "0", paramLabel = "N",
            description = "Cut each completion from the right so that prompt + completion has at most N tokens (default: no limit).")
    int maxLength;

    @Option(names = "--max-prompt-length", defaultValue = "0", paramLabel = "N",
            description = "Keep only the last N prompt tokens (default: no limit).")
    int maxPromptLength;

    @Option(names = "--example",
            description = "Run on a tiny random model and a few rows made on the fly (no files needed) and print everything.")
    boolean example;

    @Override
    public Integer call() throws IOException {
        if (batchSize < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--batch-size must be at least 1, got " + batchSize);
        }
        if (maxLength < 0 || maxPromptLength < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--max-length and --max-prompt-length must not be negative (0: no limit)");
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
        err.printf(Locale.ROOT, "scored %d %s rows (%d sequences, %d tokens with prompts) in %.1f s on %s; wrote %s%n", s.rows,
                s.paired ? "paired" : "unpaired", s.sequences, s.tokens, s.seconds, s.device, out.equals("-") ? "standard output" : out);
        err.flush();
        return CliSupport.EXIT_OK;
    }

    /** What a run did. */
    record Summary(int rows, boolean paired, long sequences, long tokens, double seconds, Device device) {}

    Summary run(Path modelDir, Path dataFile, String outFile, PrintWriter stdout) {
        long start = System.nanoTime();
        CliSupport.existingDir(modelDir, "--model", "a Hugging Face model folder with config.json, model.safetensors and tokenizer.json");
        CliSupport.existingFile(dataFile, "--data");
        ModelConfig config = ModelConfig.load(modelDir);
        Device dev = Devices.resolve(device);
        try (TextTokenizer tok = TextTokenizer.load(modelDir, config.eosTokenId())) {
            Integer eos = tok.eosId();
            if (eos == null) {
                throw new Align4jException(modelDir + ": neither tokenizer_config.json (eos_token) nor config.json "
                        + "(eos_token_id) names an end-of-sequence token; add eos_token_id to config.json");
            }
            LogprobsRows.Rows rows = LogprobsRows.read(dataFile, tok, eos, maxLength, maxPromptLength,
                    config.isGpt2() ? config.maxPositions() : 0);
            try (CausalLM lm = CausalLM.load(modelDir, new CausalLM.Options(dev, false, DataType.FLOAT32))) {
                Scored scored = score(lm, rows, batchSize);
                if (outFile.equals("-")) {
                    write(rows, scored, stdout);
                } else {
                    CliSupport.writeAtomically(Path.of(outFile), "--out", o -> write(rows, scored, o));
                }
                return new Summary(rows.size(), rows.paired(), scored.sequences, scored.tokenTotal,
                        (System.nanoTime() - start) / 1e9, dev);
            }
        }
    }

    /** logps[k][i] and tokens[k][i]: k = 0 chosen (or the completion), 1 rejected. */
    record Scored(float[][] logps, int[][] counts, long sequences, long tokenTotal) {}

    /**
     * Scores all rows, longest first in batches of {@code batchSize} rows (a pair is two sequences
     * in the same forward pass), each batch in its own sub-manager so memory stays flat.
     */
    static Scored score(CausalLM lm, LogprobsRows.Rows rows, int batchSize) {
        int n = rows.size();
        int k = rows.paired() ? 2 : 1;
        int[][] prompts = new int[n][];
        int[][][] completions = new int[k][n][];
        for (int i = 0; i < n; i++) {
            if (rows.paired()) {
                TokenizedPair p = rows.pairs().get(i);
                prompts[i] = p.prompt();
                completions[0][i] = p.chosen();
                completions[1][i] = p.rejected();
            } else {
                TokenizedUnpaired u = rows.unpaired().get(i);
                prompts[i] = u.prompt();
                completions[0][i] = u.completion();
            }
        }
        int[] length = new int[n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < k; j++) {
                length[i] = Math.max(length[i], prompts[i].length + completions[j][i].length);
            }
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

    private static String line(LogprobsRows.Rows rows, Scored s, int i) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        if (rows.paired()) {
            o.put("chosen_logps", s.logps[0][i]);
            o.put("rejected_logps", s.logps[1][i]);
            o.put("chosen_tokens", s.counts[0][i]);
            o.put("rejected_tokens", s.counts[1][i]);
        } else {
            o.put("logps", s.logps[0][i]);
            o.put("tokens", s.counts[0][i]);
        }
        return JSON.writeValueAsString(o);
    }

    private static void write(LogprobsRows.Rows rows, Scored s, OutputStream out) throws IOException {
        for (int i = 0; i < rows.size(); i++) {
            out.write((line(rows, s, i) + "\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    private static void write(LogprobsRows.Rows rows, Scored s, PrintWriter out) {
        try {
            for (int i = 0; i < rows.size(); i++) {
                out.println(line(rows, s, i));
            }
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
            InitCommand.Created created = InitCommand.create("llama", JSON.createObjectNode(), "--model-type llama", tokDir,
                    tmp.resolve("tiny-llama"), 0);
            ModelConfig cfg = created.config();
            stdout.println("# " + created.summary() + " to tiny-llama");
            Path dataFile = tmp.resolve("pairs.jsonl");
            Files.write(dataFile, (String.join("\n", EXAMPLE_ROWS) + "\n").getBytes(StandardCharsets.UTF_8));
            stdout.println("# $ cat pairs.jsonl");
            EXAMPLE_ROWS.forEach(stdout::println);
            stdout.println("# $ align4j logprobs --model tiny-llama --data pairs.jsonl --out logprobs.jsonl");
            Path outFile = tmp.resolve("logprobs.jsonl");
            Summary s = run(tmp.resolve("tiny-llama"), dataFile, outFile.toString(), stdout);
            stdout.printf(Locale.ROOT, "# scored %d rows (%d sequences, %d tokens with prompts) in %.1f s on %s%n", s.rows, s.sequences,
                    s.tokens, s.seconds, s.device);
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
