package io.github.align4j.cli;

import io.github.align4j.Align4jException;
import io.github.align4j.eval.ChatClient;
import io.github.align4j.eval.MtBench;
import io.github.align4j.internal.Devices;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code align4j mt-bench}: MT-Bench answers, LLM-judge judgments and scores, as FastChat's llm_judge. */
@Command(name = "mt-bench", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class,
        sortOptions = false,
        description = {
            "MT-Bench as FastChat's llm_judge runs it: the model answers the 80 two-turn questions (its chat template, "
                    + "FastChat's per-category temperatures, KV cache), a judge behind any OpenAI-compatible "
                    + "/v1/chat/completions endpoint grades them (single: 1-10 per turn; pairwise: against --baseline, "
                    + "both orders), and the scores per turn and category are written to --output.",
            "Resumable: answers already in OUTPUT/model_answer/ and judge replies in the judge cache are reused, so "
                    + "a rerun never asks the judge twice.",
            "--answers-only writes OUTPUT/model_answer/<model-id>.jsonl and stops (no judge): the answers of many "
                    + "models can be made elsewhere (e.g. align4j-spark's generate --mt-bench) and judged later with --answers."
        })
final class MtBenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    static final class Input {
        @Option(names = "--model", paramLabel = "DIR", description = "The model folder whose answers are generated.")
        Path model;

        @Option(names = "--answers", paramLabel = "FILE",
                description = "Judge these answers instead (FastChat model_answer JSONL: question_id, model_id, choices[0].turns).")
        Path answers;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT LoRA adapter (adapter_config.json, "
            + "adapter_model.safetensors) applied to --model, its base, when it answers: e.g. a LoRA sweep cell's final/. "
            + "The default --model-id is then the adapter folder's name (for final/, the cell's).")
    Path adapter;

    @Option(names = "--answers-only", description = "Only write the model's answers (OUTPUT/model_answer/<model-id>.jsonl, "
            + "as before judging) and stop; no judge is asked, so --judge-url and --judge-model are not needed.")
    boolean answersOnly;

    @Option(names = "--model-id", paramLabel = "NAME",
            description = "The name in answer and judgment files (default: the folder's name; a sweep cell's final/ is named after the cell).")
    String modelId;

    @Option(names = "--judge-url", paramLabel = "URL",
            description = "The judge server's base URL, e.g. https://api.openai.com/v1 or http://localhost:8000/v1 (vLLM).")
    String judgeUrl;

    @Option(names = "--judge-model", paramLabel = "NAME", description = "The judge model's name on that server, e.g. gpt-4.")
    String judgeModel;

    @Option(names = "--judge-api-key-env", paramLabel = "VAR",
            description = "The environment variable that holds the API key (e.g. OPENAI_API_KEY). Without it no key is sent.")
    String apiKeyEnv;

    @Option(names = "--judge-allow-http",
            description = "Send the API key over plain http:// to a judge on another machine (refused otherwise: use "
                    + "https://). A judge on this machine (localhost, 127.x.x.x, ::1) needs no flag.")
    boolean judgeAllowHttp;

    @Option(names = "--mode", defaultValue = "single", paramLabel = "single|pairwise",
            description = "single: grade each answer 1-10; pairwise: compare with --baseline (default: ${DEFAULT-VALUE}).")
    String mode;

    @Option(names = "--baseline", paramLabel = "DIR|FILE", description = "Pairwise mode: a model folder, or its FastChat answers file.")
    Path baseline;

    @Option(names = "--baseline-id", paramLabel = "NAME", description = "The baseline's name in the files (default: as for --model-id).")
    String baselineId;

    @Option(names = "--output", required = true, paramLabel = "DIR", description = "Where answers, judgments and results go.")
    Path output;

    @Option(names = "--max-new-tokens", defaultValue = "1024", paramLabel = "N",
            description = "Tokens per answer turn (default: ${DEFAULT-VALUE}, FastChat's).")
    int maxNewTokens;

    @Option(names = "--questions", defaultValue = "0", paramLabel = "N", description = "Only the first N questions (default: all 80).")
    int questions;

    @Option(names = "--question-ids", split = ",", paramLabel = "ID,...", description = "Only these question ids (81-160).")
    List<Integer> questionIds;

    @Option(names = "--seed", defaultValue = "42", paramLabel = "N", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--judge-max-tokens", defaultValue = "2048", paramLabel = "N",
            description = "max_tokens of each judgment (default: ${DEFAULT-VALUE}, FastChat's).")
    int judgeMaxTokens;

    @Option(names = "--judge-concurrency", defaultValue = "8", paramLabel = "N",
            description = "Judge requests in flight at once (default: ${DEFAULT-VALUE}).")
    int judgeConcurrency;

    @Option(names = "--judge-timeout", defaultValue = "120", paramLabel = "SECONDS",
            description = "Timeout of one judge request (default: ${DEFAULT-VALUE}).")
    double judgeTimeout;

    @Option(names = "--judge-retries", defaultValue = "8", paramLabel = "N",
            description = "Retries of a request on 429, 5xx, timeouts and broken connections, with exponential backoff "
                    + "(default: ${DEFAULT-VALUE}).")
    int judgeRetries;

    @Option(names = "--judge-cache", paramLabel = "FILE",
            description = "The judge reply cache (default: OUTPUT/judge_cache.jsonl); share one file between runs to never pay twice.")
    Path judgeCache;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|gpu|auto",
            description = "Where the model answers (default: ${DEFAULT-VALUE}: the GPU when DJL sees one).")
    String device;

    @Option(names = "--json", description = "Print results.json instead of the table.")
    boolean json;

    /** Backoff of retries; tests shorten it. */
    Duration backoffBase = Duration.ofSeconds(1);

    /** --answers-only: the answer phase alone, as MtBench.writeAnswers. */
    private int answersOnly() {
        if (input.model == null) {
            throw new Align4jException("--answers-only makes a model's answers: give --model DIR, not --answers");
        }
        if (baseline != null || !"single".equalsIgnoreCase(mode)) {
            throw new Align4jException("--answers-only answers --model alone; for a baseline's answers run it again with the "
                    + "baseline as --model (and --model-id NAME)");
        }
        CliSupport.existingDir(input.model, "--model", "a Hugging Face model folder with config.json, model.safetensors "
                + "and tokenizer.json");
        MtBench.Options o = MtBench.Options.forModel(input.model).adapter(adapter).modelId(modelId).output(output)
                .maxNewTokens(maxNewTokens).questionLimit(questions).questionIds(questionIds).seed(seed)
                .device(Devices.resolve(device));
        PrintWriter err = spec.commandLine().getErr();
        Path file = MtBench.writeAnswers(o, line -> {
            err.println(CliSupport.printable(line));
            err.flush();
        });
        PrintWriter out = spec.commandLine().getOut();
        out.println("answers: " + file.toAbsolutePath());
        out.flush();
        return CliSupport.EXIT_OK;
    }

    @Override
    public Integer call() throws Exception {
        if (adapter != null) {
            if (input.model == null) {
                throw new Align4jException("--adapter applies to the model that answers: give --model DIR (its base), not --answers");
            }
            CliSupport.existingDir(adapter, "--adapter", "a PEFT LoRA adapter folder with adapter_config.json and "
                    + "adapter_model.safetensors");
        }
        if (answersOnly) {
            return answersOnly();
        }
        if (judgeUrl == null || judgeModel == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "Missing required option: " + (judgeUrl == null
                    ? "'--judge-url=URL'" : "'--judge-model=NAME'") + " (or --answers-only to make the answers alone)");
        }
        MtBench.Mode m = switch (mode.toLowerCase(Locale.ROOT)) {
            case "single" -> MtBench.Mode.SINGLE;
            case "pairwise", "pair" -> MtBench.Mode.PAIRWISE;
            default -> throw new CommandLine.ParameterException(spec.commandLine(), "--mode must be single or pairwise, got '"
                    + mode + "'");
        };
        if (!(judgeTimeout > 0) || Double.isInfinite(judgeTimeout)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--judge-timeout must be > 0 seconds");
        }
        if (input.model != null) {
            CliSupport.existingDir(input.model, "--model", "a Hugging Face model folder with config.json, model.safetensors "
                    + "and tokenizer.json");
        } else {
            CliSupport.existingFile(input.answers, "--answers");
        }
        if (baseline != null && !Files.exists(baseline)) {
            throw new Align4jException("--baseline " + baseline + ": no such folder or file; expected a model folder or a "
                    + "FastChat model_answer JSONL file");
        }
        String key = null;
        if (apiKeyEnv != null) {
            key = System.getenv(apiKeyEnv);
            if (key == null || key.isEmpty()) {
                throw new Align4jException("--judge-api-key-env " + apiKeyEnv + ": the environment variable is not set; "
                        + "export it (export " + apiKeyEnv + "=...) or leave the option out for a server that needs no key");
            }
        }
        ChatClient.Options judge = ChatClient.Options.of(judgeUrl, judgeModel).withApiKey(apiKeyEnv, key)
                .withMaxTokens(judgeMaxTokens).withConcurrency(judgeConcurrency)
                .withTimeout(Duration.ofMillis((long) (judgeTimeout * 1000)))
                .withRetries(judgeRetries, backoffBase, Duration.ofSeconds(60)).withCache(judgeCache)
                .withPlainHttp(judgeAllowHttp);
        judge.checkTransport(); // MtBench.run warns (through the log below) when the key goes over http
        MtBench.Options o = (input.model != null ? MtBench.Options.forModel(input.model) : MtBench.Options.forAnswers(input.answers))
                .adapter(adapter).modelId(modelId).mode(m).baseline(baseline).baselineId(baselineId).judge(judge).output(output)
                .maxNewTokens(maxNewTokens).questionLimit(questions).questionIds(questionIds).seed(seed);
        if (input.model != null || (baseline != null && Files.isDirectory(baseline))) {
            o.device(Devices.resolve(device));
        }
        PrintWriter err = spec.commandLine().getErr();
        MtBench.Result r = MtBench.run(o, line -> {
            err.println(CliSupport.printable(line));
            err.flush();
        });
        PrintWriter out = spec.commandLine().getOut();
        Path dir = output;
        if (json) {
            out.print(Files.readString(dir.resolve("results.json")));
        } else {
            out.print(Files.readString(dir.resolve("results.md")));
            out.println();
            out.println("files: " + dir.toAbsolutePath());
            r.files().forEach(f -> out.println("  " + dir.toAbsolutePath().relativize(f.toAbsolutePath())));
        }
        out.flush();
        return CliSupport.EXIT_OK;
    }
}
