package io.github.align4j.cli;

import io.github.align4j.eval.SamplingOptions;
import picocli.CommandLine.Option;

/** The sampling flags that {@code generate} and {@code eval --judge} share. */
final class SamplingFlags {
    @Option(names = "--max-new-tokens", defaultValue = "128", paramLabel = "N",
            description = "Most tokens per completion, EOS excluded (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "1.0", paramLabel = "T",
            description = "Sampling temperature; 0 is greedy decoding (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-p", defaultValue = "1.0", paramLabel = "P",
            description = "Nucleus sampling: keep the most likely tokens up to probability P (default: ${DEFAULT-VALUE}, off).")
    double topP;

    @Option(names = "--top-k", defaultValue = "0", paramLabel = "K",
            description = "Keep the K most likely tokens (default: ${DEFAULT-VALUE}, off).")
    int topK;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S",
            description = "Sampler seed: the same seed gives the same completions (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--num-samples", defaultValue = "1", paramLabel = "N",
            description = "Completions per prompt (default: ${DEFAULT-VALUE}).")
    int numSamples;

    @Option(names = "--no-chat-template",
            description = "Give the prompt to the model as it is, without the tokenizer's chat template.")
    boolean noChatTemplate;

    SamplingOptions options() {
        return new SamplingOptions(maxNewTokens, temperature, topP, topK, seed, numSamples);
    }
}
