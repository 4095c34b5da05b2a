package io.github.align4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.align4j.data.Inspect;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code align4j inspect}: exactly what the model will see for the first rows of a dataset (the
 * detected layout, rendered texts with special tokens visible, token counts and truncation), then
 * dataset statistics.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class, sortOptions = false,
        description = {"Show exactly what the model sees: layout, rendered prompt/chosen/rejected, token counts, "
                + "truncation, and dataset statistics (rows, drops by reason, length percentiles, label balance)."})
final class InspectCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The model folder whose tokenizer and chat template to use.")
    Path model;

    @Option(names = "--data", required = true, paramLabel = "FILE", description = "A data file, folder or glob.")
    String data;

    @Option(names = "--limit", defaultValue = "3", paramLabel = "N", description = "Rows to show (default ${DEFAULT-VALUE}).")
    int limit;

    @Option(names = "--json", description = "Print one JSON object (layout, rows, kept, dropped, labels, lengths, examples with *_ids).")
    boolean json;

    @Mixin
    DataArgs dataArgs;

    @Override
    public Integer call() throws Exception {
        CliSupport.existingDir(model, "--model", "a Hugging Face model folder with tokenizer.json");
        Integer eos = Files.isRegularFile(model.resolve("config.json")) ? ModelConfig.load(model).eosTokenId() : null;
        PrintWriter out = spec.commandLine().getOut();
        try (TextTokenizer tok = TextTokenizer.load(model, eos)) {
            PreferenceData d = PreferenceData.load(data, dataArgs.toOptions(), tok);
            if (json) {
                out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(Inspect.json(d, limit)));
            } else {
                out.print(CliSupport.printable(Inspect.text(d, limit))); // rows may hold ESC/BEL: never raw to a terminal
            }
        }
        out.flush();
        return CliSupport.EXIT_OK;
    }
}
