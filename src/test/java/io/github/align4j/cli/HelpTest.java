package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.train.TrainConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** Every option of every command says what it does in --help, and what it is when not given. */
class HelpTest {
    private static List<CommandLine> commands(CommandLine cl) {
        List<CommandLine> all = new ArrayList<>(List.of(cl));
        cl.getSubcommands().values().forEach(c -> all.addAll(commands(c)));
        return all;
    }

    @Test
    void everyOptionHasADescriptionAndItsDefault() {
        List<String> missing = new ArrayList<>();
        for (CommandLine c : commands(Main.commandLine())) {
            for (OptionSpec o : c.getCommandSpec().options()) {
                if (o.usageHelp() || o.versionHelp() || o.hidden()) {
                    continue;
                }
                String d = String.join(" ", o.description()).trim();
                String name = c.getCommandName() + " " + o.longestName();
                if (d.isEmpty()) {
                    missing.add(name + ": no description");
                } else if (o.defaultValue() != null && !d.contains("${DEFAULT-VALUE}")
                        && !d.toLowerCase(Locale.ROOT).contains("default")) {
                    missing.add(name + ": its default " + o.defaultValue() + " is not in its description");
                }
            }
        }
        assertTrue(missing.isEmpty(), String.join("\n", missing));
    }

    /** train's flags fall back to the recipe keys' defaults: the default each description quotes is the key's. */
    @Test
    void trainFlagsQuoteTheDefaultsOfTheirKeys() {
        Map<String, String> keys = TrainConfig.keys();
        CommandLine train = Main.commandLine().getSubcommands().get("train");
        String[][] flagKey = {{"--beta", "beta"}, {"--batch-size", "per_device_train_batch_size"}, {"--grad-accum",
            "gradient_accumulation_steps"}, {"--seed", "seed"}, {"--logging-steps", "logging_steps"}, {"--max-length",
            "max_length"}, {"--max-prompt-length", "max_prompt_length"}, {"--eval-batch-size", "per_device_eval_batch_size"}};
        for (String[] fk : flagKey) {
            String d = String.join(" ", train.getCommandSpec().findOption(fk[0]).description());
            String k = keys.get(fk[1]);
            String dflt = k.substring(k.lastIndexOf("(default ") + "(default ".length(), k.length() - 1);
            String shown = dflt.endsWith(".0") ? dflt.substring(0, dflt.length() - 2) : dflt;
            assertTrue(d.contains("default " + dflt) || d.contains("default " + shown), fk[0] + ": '" + d + "' vs key default " + dflt);
        }
    }
}
