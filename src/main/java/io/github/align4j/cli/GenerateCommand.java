package io.github.align4j.cli;

import ai.djl.Device;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.eval.Generator;
import io.github.align4j.eval.SamplingOptions;
import io.github.align4j.internal.Devices;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code align4j generate}: completions of a prompt, or of every prompt of a file. */
@Command(name = "generate", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class,
        sortOptions = false,
        description = {
            "Sample completions from a model, with a KV cache.",
            "The prompt goes through the tokenizer's chat template (as one user message) unless --no-chat-template. "
                    + "Temperature 0 is greedy; the same --seed gives the same completions."
        })
final class GenerateCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A Hugging Face model folder: config.json, *.safetensors, tokenizer.json.")
    Path model;

    static final class Input {
        @Option(names = "--prompt", paramLabel = "TEXT", description = "One prompt.")
        String prompt;

        @Option(names = "--data", paramLabel = "FILE",
                description = "JSONL rows with a \"prompt\" text field, or any dataset the trainer reads (its prompts are used).")
        Path data;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Mixin
    AdapterFlags adapterFlags = new AdapterFlags();

    @Mixin
    SamplingFlags sampling;

    @Mixin
    EvalDataFlags dataFlags;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|gpu|auto",
            description = "Where to run (default: ${DEFAULT-VALUE}: the GPU when DJL sees one).")
    String device;

    @Option(names = "--json", description = "One JSON line per completion: prompt, sample, completion, tokens, finish_reason.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        SamplingOptions o = sampling.options();
        CliSupport.existingDir(model, "--model", "a Hugging Face model folder with config.json, model.safetensors and tokenizer.json");
        adapterFlags.check();
        ModelConfig config = ModelConfig.load(model);
        Device dev = Devices.resolve(device);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        long start = System.nanoTime();
        long tokens = 0;
        int promptCount = 0;
        try (TextTokenizer tok = TextTokenizer.load(model, config.eosTokenId());
                CausalLM lm = adapterFlags.load(model, dev)) {
            Generator g = new Generator(lm, tok);
            PromptRows.Prompts ps = input.data != null ? PromptRows.load(input.data, "--data", tok, dataFlags.options(0, 0))
                    : new PromptRows.Prompts(List.of(input.prompt), false);
            List<String> prompts = ps.texts();
            promptCount = prompts.size();
            boolean chat = !sampling.noChatTemplate && !ps.rendered();
            if (chat && tok.chatTemplate() == null && !sampling.noChatTemplate) {
                err.println("note: " + model + " has no chat template; prompts are used as they are");
            }
            for (int i = 0; i < prompts.size(); i++) {
                String prompt = prompts.get(i);
                int[] promptIds = g.encodePrompt(prompt, chat);
                List<int[]> ids = g.generate(promptIds, o);
                for (int j = 0; j < ids.size(); j++) {
                    int[] c = ids.get(j);
                    tokens += c.length;
                    String text = g.decode(c);
                    if (json) {
                        ObjectNode n = JSON.createObjectNode();
                        n.put("prompt", prompt);
                        n.put("sample", j);
                        n.put("completion", text);
                        n.put("tokens", c.length);
                        boolean full = c.length >= o.maxNewTokens()
                                || Math.max(1, promptIds.length) + c.length >= config.maxPositions();
                        n.put("finish_reason", full ? "length" : "stop");
                        out.println(JSON.writeValueAsString(n));
                    } else {
                        if (prompts.size() > 1 || ids.size() > 1) {
                            out.println("--- prompt " + (i + 1) + (ids.size() > 1 ? ", sample " + (j + 1) : ""));
                        }
                        out.println(text);
                    }
                }
                out.flush();
            }
        }
        double s = (System.nanoTime() - start) / 1e9;
        err.printf(Locale.ROOT, "generated %d tokens for %d prompt(s) x %d sample(s) in %.1f s on %s%n", tokens, promptCount,
                o.numSamples(), s, dev);
        err.flush();
        return CliSupport.EXIT_OK;
    }
}
