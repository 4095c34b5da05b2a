package io.github.align4j.internal;

import io.github.align4j.Align4jException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The tiny tokenizer that ships inside the jar, so that {@code align4j init} and
 * {@code logprobs --example} run with no files at all: a byte-level BPE with 794 tokens (256 bytes,
 * 535 merges learned from an English text written for the project, and {@code <|endoftext|>} (EOS,
 * padding), {@code <|im_start|>}, {@code <|im_end|>}) and a ChatML chat template. Any text can be
 * encoded (bytes are the fallback). It is made by {@code TinyTokenizerBuilder} in the tests.
 * {@code CausalLM.init(modelType, config, tokenizerDir, outDir, seed)} uses it when given no tokenizer.
 */
public final class TinyTokenizer {
    /** Where the files are on the class path. */
    public static final String RESOURCE_DIR = "/io/github/align4j/tiny/";

    /** The files that make up the tokenizer. */
    public static final List<String> FILES = List.of("tokenizer.json", "tokenizer_config.json");

    private TinyTokenizer() {}

    /** Copies tokenizer.json and tokenizer_config.json into {@code dir} (created if needed). */
    public static Path writeTo(Path dir) {
        try {
            Files.createDirectories(dir);
            for (String f : FILES) {
                try (InputStream in = TinyTokenizer.class.getResourceAsStream(RESOURCE_DIR + f)) {
                    if (in == null) {
                        throw new IllegalStateException("the resource " + RESOURCE_DIR + f + " is missing from the jar");
                    }
                    Files.copy(in, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            return dir;
        } catch (IOException e) {
            throw new Align4jException(dir + ": cannot write the built-in tokenizer: " + e, e);
        }
    }
}
