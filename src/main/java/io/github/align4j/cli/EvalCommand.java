package io.github.align4j.cli;

import ai.djl.Device;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.eval.ChatClient;
import io.github.align4j.eval.Evaluator;
import io.github.align4j.eval.Judge;
import io.github.align4j.eval.JudgeEval;
import io.github.align4j.eval.Judges;
import io.github.align4j.eval.LlmJudge;
import io.github.align4j.eval.PreferenceEval;
import io.github.align4j.eval.SamplingOptions;
import io.github.align4j.internal.Devices;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.model.internal.SequenceLimits;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code align4j eval}: held-out preference accuracy of a policy against its reference, or with
 * {@code --judge NAME} the judged win rate of sampled completions and a KL estimate.
 */
@Command(name = "eval", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class,
        sortOptions = false,
        description = {
            "Evaluate a tuned model on held-out preference pairs: implicit-reward accuracy, mean margin, "
                    + "mean chosen/rejected log-probs (rewards are beta * (log pi - log ref)).",
            "With --judge NAME (a built-in task's judge): sample from the model and the reference for every prompt, "
                    + "report the judged win rate with a 95%% Wilson interval and a Monte-Carlo KL(pi || ref)."
        })
final class EvalCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The tuned model's folder (with --adapter: the adapter's base).")
    Path model;

    @Option(names = "--ref-model", paramLabel = "DIR",
            description = "The reference model's folder (usually the SFT model DPO started from). Without it, rewards "
                    + "are beta * log pi (no reference).")
    Path refModel;

    @Mixin
    AdapterFlags adapterFlags = new AdapterFlags();

    @Option(names = "--data", required = true, paramLabel = "FILE",
            description = "Held-out preference pairs in any layout the trainer reads (JSONL, JSON, CSV, Parquet; a glob); "
                    + "with --judge, a JSONL of {\"prompt\"} rows also works.")
    Path data;

    @Option(names = "--beta", defaultValue = "0.1", paramLabel = "B", description = "beta of the implicit reward (default: ${DEFAULT-VALUE}).")
    double beta;

    @Option(names = "--batch-size", defaultValue = "8", paramLabel = "N",
            description = "Pairs per forward pass (default: ${DEFAULT-VALUE}). Results do not depend on it beyond rounding.")
    int batchSize;

    @Option(names = "--max-length", defaultValue = "1024", paramLabel = "N",
            description = "Truncate as training does: prompt + completion at most N tokens (default: ${DEFAULT-VALUE}; 0: no limit).")
    int maxLength;

    @Option(names = "--max-prompt-length", defaultValue = "512", paramLabel = "N",
            description = "Prompt tokens kept when a row is too long (default: ${DEFAULT-VALUE}; 0: no limit).")
    int maxPromptLength;

    @Mixin
    EvalDataFlags dataFlags;

    @Option(names = "--judge", paramLabel = "NAME",
            description = "Judge sampled completions with a registered judge (built-in tasks), or with an LLM behind an "
                    + "OpenAI-compatible endpoint: openai:MODEL@URL (MT-Bench's single-v1 prompt, ratings 1-10).")
    String judge;

    @Option(names = "--judge-api-key-env", paramLabel = "VAR",
            description = "With --judge openai:...: the environment variable that holds the API key (none sent without it).")
    String judgeApiKeyEnv;

    @Option(names = "--judge-allow-http",
            description = "With --judge openai:...: send the API key over plain http:// to a judge on another machine "
                    + "(refused otherwise: use https://).")
    boolean judgeAllowHttp;

    @Option(names = "--judge-cache", paramLabel = "FILE",
            description = "With --judge openai:...: the judge reply cache (default: ~/.cache/align4j/judge_cache.jsonl, "
                    + "or $XDG_CACHE_HOME/align4j/...).")
    Path judgeCache;

    @Mixin
    SamplingFlags sampling;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|gpu|auto",
            description = "Where to run (default: ${DEFAULT-VALUE}: the GPU when DJL sees one).")
    String device;

    @Option(names = "--json", description = "Print the results as one JSON object.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (batchSize < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--batch-size must be at least 1, got " + batchSize);
        }
        if (!(beta > 0)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--beta must be > 0, got " + beta);
        }
        if (maxLength < 0 || maxPromptLength < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--max-length and --max-prompt-length must not be negative (0: no limit)");
        }
        Judge j = null;
        if (judge != null && judge.strip().regionMatches(true, 0, LlmJudge.PREFIX, 0, LlmJudge.PREFIX.length())) {
            j = llmJudge();
        } else if (judge != null) {
            j = Judges.byName(judge); // fail before loading anything
        }
        if (j != null) {
            if (refModel == null) {
                throw new Align4jException("--judge compares the model with a reference: give --ref-model DIR");
            }
        }
        CliSupport.existingDir(model, "--model", "a Hugging Face model folder with config.json, model.safetensors and tokenizer.json");
        adapterFlags.check();
        if (refModel != null) {
            CliSupport.existingDir(refModel, "--ref-model", "a Hugging Face model folder with config.json and model.safetensors");
        }
        ModelConfig config = ModelConfig.load(model);
        Device dev = Devices.resolve(device);
        PrintWriter out = spec.commandLine().getOut();
        long start = System.nanoTime();
        ObjectNode r = JSON.createObjectNode();
        if (adapterFlags.adapter != null) {
            r.put("adapter", adapterFlags.adapter.toString());
        }
        try (TextTokenizer tok = TextTokenizer.load(model, config.eosTokenId());
                CausalLM lm = adapterFlags.load(model, dev);
                CausalLM ref = refModel == null ? null : CausalLM.load(refModel, adapterFlags.options(refModel, dev))) {
            if (ref != null && ref.config().vocabSize() != config.vocabSize()) {
                throw new Align4jException("--ref-model " + refModel + ": vocab_size " + ref.config().vocabSize()
                        + " differs from the model's " + config.vocabSize() + "; the reference must share the tokenizer");
            }
            if (j != null) {
                SamplingOptions o = sampling.options();
                PromptRows.Prompts ps = PromptRows.load(data, "--data", tok, dataFlags.options(0, 0));
                JudgeEval e = Evaluator.judge(lm, ref, tok, ps.texts(), j, o, !sampling.noChatTemplate && !ps.rendered());
                r.put("judge", judge);
                r.put("prompts", e.prompts());
                r.put("samples_per_prompt", o.numSamples());
                r.put("mean_reward", e.meanReward());
                r.put("reference_mean_reward", e.referenceMeanReward());
                r.put("win_rate", e.winRate());
                r.put("win_rate_low", e.winRateLow());
                r.put("win_rate_high", e.winRateHigh());
                r.put("kl_to_reference", e.klToReference());
                if (j instanceof LlmJudge lj) {
                    r.put("judge_unscored", lj.unscored());
                    ChatClient.Usage u = lj.usage();
                    r.put("judge_calls", u.answered() + u.cached());
                    r.put("judge_cached", u.cached());
                    r.put("judge_prompt_tokens", u.promptTokens());
                    r.put("judge_completion_tokens", u.completionTokens());
                    spec.commandLine().getErr().println(u);
                    spec.commandLine().getErr().flush();
                }
            } else {
                PreferenceData d = PreferenceData.load(data.toString(), dataFlags.options(maxLength, maxPromptLength), tok);
                if (!d.paired()) {
                    throw new Align4jException(data + ": eval needs preference pairs (prompt, chosen, rejected); this data is "
                            + "unpaired (" + d.layout() + ")");
                }
                for (TokenizedPair p : d.pairs()) {
                    int longest = p.prompt().length + Math.max(p.chosen().length, p.rejected().length);
                    SequenceLimits.checkLength(config, longest, data + ": row " + p.row() + " (0-based)",
                            "pass --max-length " + config.maxPositions() + " (or less) to truncate it");
                }
                PreferenceEval e = Evaluator.preference(lm, ref, d.pairs(), beta, batchSize);
                r.put("pairs", e.pairs());
                r.put("beta", beta);
                r.put("reference", ref == null ? "none" : refModel.toString());
                r.put("accuracy", e.accuracy());
                r.put("mean_margin", e.meanMargin());
                r.put("mean_chosen_logps", e.meanChosenLogps());
                r.put("mean_rejected_logps", e.meanRejectedLogps());
                r.put("mean_chosen_reward", e.meanChosenReward());
                r.put("mean_rejected_reward", e.meanRejectedReward());
            }
        }
        r.put("seconds", (System.nanoTime() - start) / 1e9);
        if (json) {
            out.println(JSON.writeValueAsString(r));
        } else {
            if (judge == null && refModel == null) {
                out.println("# no --ref-model: rewards are beta * log pi of the model alone");
            }
            r.fields().forEachRemaining(e -> out.println(String.format(Locale.ROOT, "%-22s %s", e.getKey(),
                    e.getValue().isFloatingPointNumber() ? String.format(Locale.ROOT, "%.6g", e.getValue().asDouble())
                            : e.getValue().asText())));
        }
        out.flush();
        return CliSupport.EXIT_OK;
    }

    /** --judge openai:MODEL@URL with its key (from the environment) and its reply cache. */
    private Judge llmJudge() {
        ChatClient.Options o = CliSupport.judgeOptions(judge, judgeApiKeyEnv, judgeCache, judgeAllowHttp,
                spec.commandLine().getErr());
        return new LlmJudge(new ChatClient(o));
    }
}
