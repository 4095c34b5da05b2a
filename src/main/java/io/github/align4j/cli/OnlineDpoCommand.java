package io.github.align4j.cli;

import ai.djl.Device;
import io.github.align4j.Align4jException;
import io.github.align4j.eval.ChatClient;
import io.github.align4j.eval.Judges;
import io.github.align4j.eval.LlmJudge;
import io.github.align4j.eval.LlmPairJudge;
import io.github.align4j.eval.OnlineDpo;
import io.github.align4j.eval.SamplingOptions;
import io.github.align4j.internal.Devices;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.model.internal.ModelDtypes;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code align4j online-dpo}: online DPO/IPO with a judge in the loop ({@link OnlineDpo}): each step
 * samples k completions per prompt from the policy, a judge ranks them, and the policy takes a DPO or
 * IPO step on (best, worst).
 */
@Command(name = "online-dpo", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class, sortOptions = false,
        description = {"Online DPO (TRL's OnlineDPOTrainer): every step samples --num-samples completions per prompt from the "
                + "policy, a judge ranks them, and a DPO (--loss-type sigmoid) or IPO step is taken on the best and worst.",
            "The judge: a registered reward (e.g. review-sentiment) or an LLM, openai:MODEL@URL, asked pairwise in both "
                    + "orders with replies cached. Writes OUTPUT/metrics.jsonl, checkpoints and OUTPUT/final/ as train does."})
final class OnlineDpoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The policy: a Hugging Face folder (config.json, *.safetensors, tokenizer.json).")
    Path model;
    @Option(names = "--data", required = true, paramLabel = "FILE", description = "Prompts: a JSONL of {\"prompt\"} rows, "
            + "or any data file align4j reads (its prompts are used).")
    Path data;
    @Option(names = "--judge", required = true, paramLabel = "NAME", description = "A registered judge that scores each "
            + "completion (e.g. review-sentiment), or openai:MODEL@URL: an LLM comparing two completions (pair-v2, both orders).")
    String judge;
    @Option(names = "--judge-api-key-env", paramLabel = "VAR", description = "With --judge openai:...: the environment "
            + "variable that holds the API key (none sent without it).")
    String judgeApiKeyEnv;
    @Option(names = "--judge-allow-http", description = "With --judge openai:...: send the API key over plain http:// to "
            + "a judge on another machine.")
    boolean judgeAllowHttp;
    @Option(names = "--judge-cache", paramLabel = "FILE", description = "With --judge openai:...: the judge reply cache "
            + "(default: ~/.cache/align4j/judge_cache.jsonl).")
    Path judgeCache;
    @Option(names = "--output", required = true, paramLabel = "DIR", description = "Where metrics and checkpoints go; must "
            + "be empty or new (or see --resume, --overwrite).")
    Path output;
    @Option(names = "--loss-type", defaultValue = "sigmoid", paramLabel = "sigmoid|ipo", description = "sigmoid (DPO) or "
            + "ipo (default: ${DEFAULT-VALUE}).")
    String lossType;
    @Option(names = "--beta", split = ",", paramLabel = "B", description = "β; a comma-separated list gives one per epoch, the last "
            + "kept (default 0.1).")
    List<Double> beta;
    @Option(names = "--missing-eos-penalty", defaultValue = "0", paramLabel = "P", description = "Subtracted from the "
            + "score of a completion that did not end at EOS (default: ${DEFAULT-VALUE}).")
    double missingEosPenalty;
    @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default 5e-7).")
    Double lr;
    @Option(names = "--lr-scheduler", paramLabel = "TYPE", description = "cosine (default), linear or constant after warmup.")
    String lrScheduler;
    @Option(names = "--warmup-ratio", paramLabel = "F", description = "Warmup as a fraction of the steps (default 0).")
    Double warmupRatio;
    @Option(names = "--batch-size", paramLabel = "N", description = "Prompts per micro-batch (default 8).")
    Integer batchSize;
    @Option(names = "--grad-accum", paramLabel = "K", description = "Micro-batches per optimizer step (default 1).")
    Integer gradAccum;

    @ArgGroup(exclusive = true)
    Length length;

    static final class Length {
        @Option(names = "--epochs", paramLabel = "E", description = "Epochs over the prompts (default 1).") Double epochs;
        @Option(names = "--max-steps", paramLabel = "S", description = "Optimizer steps (overrides epochs).") Integer maxSteps;
    }

    @Option(names = "--logging-steps", paramLabel = "N", description = "Log metrics every N steps (default 10).")
    Integer loggingSteps;
    @Option(names = "--save-steps", paramLabel = "N", description = "Write OUTPUT/checkpoint-<step>/ every N steps (default 0: only final/).")
    Integer saveSteps;
    @Option(names = "--save-total-limit", paramLabel = "K", description = "Keep the newest K checkpoints (default 0: all).")
    Integer saveTotalLimit;
    @Option(names = "--max-length", paramLabel = "N", description = "Prompt + completion tokens (default 1024).")
    Integer maxLength;
    @Option(names = "--max-prompt-length", paramLabel = "N", description = "Prompt tokens, cut from the left (default 512).")
    Integer maxPromptLength;
    @Option(names = "--max-grad-norm", paramLabel = "X", description = "Global gradient-norm clip (default 1.0).")
    Double maxGradNorm;
    @Option(names = "--config", paramLabel = "RECIPE.yaml", description = "A recipe with TRL keys; flags override it.")
    Path config;
    @Option(names = "--device", paramLabel = "cpu|gpu|auto", description = "Where to train (default auto).")
    String device;
    @Option(names = "--overwrite", description = "Allow a non-empty --output: an earlier run's checkpoints and metrics are replaced.")
    boolean overwrite;
    @Option(names = "--resume", description = "Continue the run in --output from its newest checkpoint (samples included: "
            + "give the same prompts and settings).")
    boolean resume;
    @Mixin
    LoraFlags lora = new LoraFlags();
    @Mixin
    EvalDataFlags dataFlags;
    @Option(names = "--num-samples", defaultValue = "2", paramLabel = "K",
            description = "Completions sampled per prompt and step, ranked by the judge; k ≥ 2 (default: ${DEFAULT-VALUE}).")
    int numSamples;
    @Option(names = "--max-new-tokens", defaultValue = "64", paramLabel = "N",
            description = "TRL's max_new_tokens: most tokens per completion, EOS excluded (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;
    @Option(names = "--temperature", defaultValue = "0.9", paramLabel = "T",
            description = "Sampling temperature, TRL's default (default: ${DEFAULT-VALUE}).")
    double temperature;
    @Option(names = "--top-p", defaultValue = "1.0", paramLabel = "P",
            description = "Nucleus sampling: keep the most likely tokens up to probability P (default: ${DEFAULT-VALUE}, off).")
    double topP;
    @Option(names = "--top-k", defaultValue = "0", paramLabel = "K",
            description = "Keep the K most likely tokens (default: ${DEFAULT-VALUE}, off).")
    int topK;
    @Option(names = "--seed", defaultValue = "42", paramLabel = "S", description = "Seed of the prompt order, LoRA's init "
            + "and dropout, and of every step's samples (each drawn from seed, step and prompt) (default: ${DEFAULT-VALUE}).")
    int seed;
    @Option(names = "--no-chat-template",
            description = "Give the prompts to the model as they are, without the tokenizer's chat template.")
    boolean noChatTemplate;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (resume && overwrite) {
            throw new Align4jException("--resume and --overwrite exclude each other: --resume continues the run in "
                    + output + ", --overwrite replaces it");
        }
        boolean llm = judge.strip().regionMatches(true, 0, LlmJudge.PREFIX, 0, LlmJudge.PREFIX.length());
        io.github.align4j.eval.Judge reward = llm ? null : Judges.byName(judge); // fail before loading anything
        List<String> ignored = new ArrayList<>();
        TrainConfig cfg = TrainConfig.defaults();
        if (config != null) {
            cfg = TrainConfig.fromYaml(config, cfg, ignored);
        }
        cfg = cfg.with(flags(), "command line").validated();
        for (String i : ignored) {
            out.println("note: recipe key ignored: " + i);
        }
        int k = numSamples;
        SamplingOptions so = new SamplingOptions(maxNewTokens, temperature, topP, topK, 0, k);
        CliSupport.existingDir(model, "--model", "a Hugging Face model folder with config.json, model.safetensors and tokenizer.json");
        ModelConfig mc = ModelConfig.load(model);
        Device dev = Devices.resolve(cfg.model().device().toString());
        LlmPairJudge pair = llm ? pairJudge() : null;
        OnlineDpo[] run = new OnlineDpo[1];
        PreferenceTrainer.TrainResult r;
        try (TextTokenizer tok = TextTokenizer.load(model, mc.eosTokenId()); CausalLM policy = load(cfg, dev)) {
            PromptRows.Prompts ps = PromptRows.load(data, "--data", tok, dataFlags.options(0, 0));
            OnlineDpo.Builder b = OnlineDpo.builder().config(cfg).policy(policy).tokenizer(tok).prompts(ps.texts())
                    .useChatTemplate(!noChatTemplate && !ps.rendered()).sampling(so)
                    .missingEosPenalty(missingEosPenalty).output(output).tokenizerDir(model).resume(resume)
                    .console(System.err);
            if (!resume) {
                b.overwrite(overwrite);
            }
            if (beta != null) {
                b.betas(beta);
            }
            if (pair != null) {
                b.pairwiseJudge(pair);
            } else {
                b.judge(reward);
            }
            run[0] = b.build();
            out.println(String.format(Locale.ROOT, "online %s: %d prompts, k = %d samples each, judge %s, %d steps → %s",
                    cfg.lossSpec().type().equalsIgnoreCase("ipo") ? "IPO" : "DPO", ps.texts().size(), k,
                    io.github.align4j.internal.Texts.printable(judge), run[0].totalSteps(), output));
            out.flush();
            try (StopSignals signals = StopSignals.install(run[0]::requestStop, spec.commandLine().getErr())) {
                r = run[0].train();
                if (signals.received() != null && r.stopped()) {
                    out.flush();
                    return signals.exitCode();
                }
            }
        }
        out.println("done: " + r.steps() + " steps, " + run[0].judgeCalls() + " judge calls"
                + (pair != null ? " (" + pair.usage() + ")" : "") + "; final checkpoint " + r.finalCheckpoint());
        if (r.lastTrain() != null) {
            StringBuilder sb = new StringBuilder("train:");
            r.lastTrain().forEach((key, v) -> sb.append(' ').append(key).append('=').append(v instanceof Double d
                    ? String.format(Locale.ROOT, "%.4g", d) : String.valueOf(v)));
            out.println(sb);
        }
        return CliSupport.EXIT_OK;
    }

    /** The policy, with LoRA adapters on a frozen base under --use-peft (the reference is then the base). */
    private CausalLM load(TrainConfig cfg, Device dev) {
        if (!cfg.lora().enabled()) {
            return CausalLM.load(model, CausalLM.Options.training().withDevice(dev));
        }
        CausalLM lm = CausalLM.load(model, new CausalLM.Options(dev, false, ModelDtypes.resolve(cfg.model().torchDtype().key(), model)));
        try {
            return lm.addAdapters(cfg.lora().adapters(), cfg.optimization().seed());
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
    }

    private Map<String, Object> flags() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("loss_type", lossType);
        if (beta != null && !beta.isEmpty()) {
            m.put("beta", beta.get(0));
        }
        put(m, "learning_rate", lr);
        put(m, "lr_scheduler_type", lrScheduler);
        put(m, "warmup_ratio", warmupRatio);
        put(m, "per_device_train_batch_size", batchSize);
        put(m, "gradient_accumulation_steps", gradAccum);
        if (length != null) {
            put(m, "num_train_epochs", length.epochs);
            put(m, "max_steps", length.maxSteps);
        }
        m.put("seed", seed);
        put(m, "logging_steps", loggingSteps);
        put(m, "save_steps", saveSteps);
        put(m, "save_total_limit", saveTotalLimit);
        put(m, "max_length", maxLength);
        put(m, "max_prompt_length", maxPromptLength);
        put(m, "max_grad_norm", maxGradNorm);
        put(m, "device", device);
        m.put("model_name_or_path", model.toString());
        lora.putInto(m);
        return m;
    }

    private static void put(Map<String, Object> m, String key, Object v) {
        if (v != null) {
            m.put(key, v);
        }
    }

    /** --judge openai:MODEL@URL, pairwise, with its key (from the environment) and its reply cache. */
    private LlmPairJudge pairJudge() {
        ChatClient.Options o = CliSupport.judgeOptions(judge, judgeApiKeyEnv, judgeCache, judgeAllowHttp,
                spec.commandLine().getErr());
        return new LlmPairJudge(new ChatClient(o));
    }
}
