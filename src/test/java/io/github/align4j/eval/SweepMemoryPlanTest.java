package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code sweep --dry-run --gpu-memory 80}: each cell's memory plan against one 80 GiB GPU from the model's
 * config.json alone. The blog's full fine-tuning of a 7B model cannot fit one device and says so; the LoRA
 * recipes shipped in recipes/pref-align-scan fit.
 */
class SweepMemoryPlanTest {
    /** Mistral-7B's shape (zephyr-7b-sft-full, OpenHermes-2.5-Mistral-7B): config.json only, no weights. */
    static final String MISTRAL_7B = "{\"model_type\": \"mistral\", \"architectures\": [\"MistralForCausalLM\"], "
            + "\"vocab_size\": 32000, \"hidden_size\": 4096, \"intermediate_size\": 14336, \"num_hidden_layers\": 32, "
            + "\"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"max_position_embeddings\": 32768, "
            + "\"rope_theta\": 10000.0, \"rms_norm_eps\": 1e-05, \"bos_token_id\": 1, \"eos_token_id\": 2, "
            + "\"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", \"sliding_window\": 4096}";

    private static String dryRun(Path recipe, Path dir, String... extra) throws Exception {
        Path models = dir.resolve("models");
        for (String m : new String[] {"zephyr-7b-sft-full", "OpenHermes-2.5-Mistral-7B"}) {
            Files.createDirectories(models.resolve(m));
            Files.writeString(models.resolve(m).resolve("config.json"), MISTRAL_7B);
        }
        // the recipe as shipped, its model folder (a relative path) resolved under dir
        String text = Files.readString(recipe).replace("model_name_or_path: models/", "model_name_or_path: " + models + "/")
                .replace("output_dir: runs/", "output_dir: " + dir.resolve("runs") + "/");
        Path yaml = dir.resolve(recipe.getFileName());
        Files.writeString(yaml, text);
        picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        String[] args = new String[3 + extra.length];
        args[0] = "sweep";
        args[1] = "--config=" + yaml;
        args[2] = "--dry-run";
        System.arraycopy(extra, 0, args, 3, extra.length);
        assertEquals(0, cl.execute(args), err.toString());
        return out.toString();
    }

    @Test
    void fullFineTuningOfA7bModelDoesNotFitOneGpuAndSaysSo(@TempDir Path dir) throws Exception {
        String plan = dryRun(Path.of("recipes/pref-align-scan/zephyr-ultrafeedback.yaml"), dir, "--gpu-memory", "80");
        assertTrue(plan.contains("planned against one GPU of 80.0 GiB (--gpu-memory)"), plan);
        assertTrue(plan.contains("NOT ONE DEVICE: 30 of 30 cells cannot fit in one GPU of 80.0 GiB"), plan);
        assertTrue(plan.contains("dpo-beta0.01") && plan.contains("DOES NOT FIT"), plan);
        assertTrue(plan.contains("use_peft: true"), plan);
    }

    @Test
    void theLoraScansFitOne80GbGpu(@TempDir Path dir) throws Exception {
        for (String r : new String[] {"zephyr-ultrafeedback-lora.yaml", "openhermes-orca-lora.yaml"}) {
            String plan = dryRun(Path.of("recipes/pref-align-scan").resolve(r), dir, "--gpu-memory", "80");
            assertTrue(plan.contains(": 30 cells ("), plan);
            assertEquals(30, plan.lines().filter(l -> l.endsWith(" fits")).count(), plan);
            assertFalse(plan.contains("DOES NOT FIT") || plan.contains("NOT ONE DEVICE"), plan);
        }
    }

    @Test
    void withoutTheModelFolderThePlanSaysWhatItNeeds(@TempDir Path dir) throws Exception {
        Path yaml = dir.resolve("s.yaml");
        Files.writeString(yaml, "model_name_or_path: " + dir.resolve("absent") + "\ntrain_file: x.jsonl\noutput_dir: "
                + dir.resolve("o") + "\ngrid:\n  beta: [0.1]\n");
        picocli.CommandLine cl = io.github.align4j.cli.Main.commandLine();
        StringWriter out = new StringWriter();
        cl.setOut(new PrintWriter(out));
        assertEquals(0, cl.execute("sweep", "--config", yaml.toString(), "--dry-run", "--gpu-memory", "80"));
        assertTrue(out.toString().contains("memory     not planned: model_name_or_path is not here (its config.json alone "
                + "is enough)"), out.toString());
    }
}
