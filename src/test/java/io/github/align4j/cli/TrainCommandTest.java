package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code align4j train} end to end on a tiny model with the built-in tokenizer. */
class TrainCommandTest {
    @TempDir
    static Path shared;

    static Path model;

    @BeforeAll
    static void makeModel() throws Exception {
        Path cfg = shared.resolve("cfg.json");
        Files.writeString(cfg, "{\"hidden_size\": 32, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
                + "\"num_key_value_heads\": 2, \"intermediate_size\": 64}");
        model = shared.resolve("model");
        Cli.Result r = Cli.run("init", "--model-type", "llama", "--config", cfg.toString(), "--out", model.toString(), "--seed", "3");
        assertEquals(0, r.exit(), r.toString());
    }

    static List<String> common(Path out) {
        return new ArrayList<>(List.of("train", "--model", model.toString(), "--beta", "0.1", "--lr", "1e-3",
                "--batch-size", "2", "--grad-accum", "1", "--max-steps", "5", "--shuffle", "true", "--seed", "1",
                "--logging-steps", "1", "--output", out.toString(), "--max-length", "192", "--max-prompt-length", "96",
                "--cache-dir", shared.resolve("cache").toString()));
    }

    static List<JsonNode> metrics(Path out) throws Exception {
        List<JsonNode> m = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            m.add(new ObjectMapper().readTree(l));
        }
        return m;
    }

    /** Five steps on every real dataset in src/test/resources/data/preference (origins in its SOURCES.md) (KTO on the unpaired one). */
    @ParameterizedTest
    @CsvSource({
        "hh-rlhf_harmless-base_test.jsonl.gz, dpo, ''",
        "orca_dpo_pairs_validation.aoai.jsonl, ipo, ''",
        "llamafactory_dpo_en_demo.json, kto_pair, ''",
        "llamafactory_kto_en_demo.json, kto, ''",
        "torchtune_stack_exchange_paired_tiny.json, dpo, 'prompt=question,chosen=response_j,rejected=response_k'",
    })
    void fiveStepsOnEachRealDataset(String file, String loss, String columns, @TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        List<String> args = common(out);
        args.addAll(List.of("--data", TestData.shared("data/preference/" + file).toString(), "--loss", loss));
        if (!columns.isEmpty()) {
            args.addAll(List.of("--columns", columns));
        }
        Cli.Result r = Cli.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("rows read"), r.out());
        List<JsonNode> m = metrics(out);
        assertEquals(5, m.size(), "one log line per step");
        assertEquals(5, m.get(4).get("step").asInt());
        assertTrue(Double.isFinite(m.get(4).get("loss").asDouble()));
        assertTrue(Files.isRegularFile(out.resolve("final/model.safetensors")));
        assertTrue(Files.isRegularFile(out.resolve("final/tokenizer.json")));
    }

    /** TRL's use_weighting, ld_alpha and TR-DPO from a recipe train through the CLI; TR-DPO with LoRA exits 2 before loading. */
    @Test
    void trlTrainerOptionsFromARecipe(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("d.jsonl");
        Files.writeString(data, "{\"prompt\": \"Say hi.\", \"chosen\": \"Hi there!\", \"rejected\": \"No.\"}\n"
                + "{\"prompt\": \"Count to three.\", \"chosen\": \"One, two, three.\", \"rejected\": \"Four.\"}\n");
        Path recipe = tmp.resolve("r.yaml");
        Files.writeString(recipe, "use_weighting: true\nld_alpha: 0.5\nsync_ref_model: true\nref_model_sync_steps: 2\n");
        Path out = tmp.resolve("run");
        List<String> args = common(out);
        args.addAll(List.of("--data", data.toString(), "--config", recipe.toString()));
        Cli.Result r = Cli.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.toString());
        assertTrue(Double.isFinite(metrics(out).get(4).get("loss").asDouble()));
        assertTrue(Files.isRegularFile(out.resolve("final/ref_model.safetensors")));

        Files.writeString(recipe, "sync_ref_model: true\nuse_peft: true\n");
        List<String> lora = common(tmp.resolve("run2"));
        lora.addAll(List.of("--data", data.toString(), "--config", recipe.toString()));
        InitCommandTest.assertUserError(Cli.run(lora.toArray(String[]::new)), "sync_ref_model (TR-DPO)", "use_peft false");
        assertFalse(Files.exists(tmp.resolve("run2")), "refused before anything is written");
    }

    /** A user's loss class on the class path trains through the CLI (examples/java/com/example/SoftHingeLoss). */
    @Test
    void customLossByClassName(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("d.jsonl");
        Files.writeString(data, "{\"prompt\": \"Say hi.\", \"chosen\": \"Hi there!\", \"rejected\": \"No.\"}\n"
                + "{\"prompt\": \"Count to three.\", \"chosen\": \"One, two, three.\", \"rejected\": \"Four.\"}\n");
        Path out = tmp.resolve("run");
        List<String> args = common(out);
        args.addAll(List.of("--data", data.toString(), "--loss", "com.example.SoftHingeLoss", "--eval-data", data.toString()));
        Cli.Result r = Cli.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.toString());
        assertTrue(metrics(out).get(0).has("soft_hinge/margin"));
        assertTrue(metrics(out).stream().anyMatch(n -> n.has("eval_rewards/accuracies")));
    }

    @Test
    void refusesANonEmptyOutputAndBadFlags(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        Files.createDirectories(out);
        Files.writeString(out.resolve("keep.txt"), "mine");
        List<String> args = common(out);
        args.addAll(List.of("--data", tmp.resolve("missing.jsonl").toString(), "--loss", "dpo"));
        Cli.Result r = Cli.run(args.toArray(String[]::new));
        InitCommandTest.assertUserError(r, "not empty", "--overwrite");
        assertEquals("mine", Files.readString(out.resolve("keep.txt")));

        List<String> bad = common(tmp.resolve("run2"));
        bad.set(bad.indexOf("--beta") + 1, "0");
        bad.addAll(List.of("--data", "x.jsonl"));
        InitCommandTest.assertUserError(Cli.run(bad.toArray(String[]::new)), "beta", "> 0");
        assertFalse(Files.exists(tmp.resolve("run2")), "nothing written when a flag is invalid");
    }

    /** A recipe's values, overridden by flags; --dry-run prints the plan and trains nothing. */
    @Test
    void recipeWithOverridesDryRun(@TempDir Path tmp) throws Exception {
        Path recipe = tmp.resolve("r.yaml");
        Files.writeString(recipe, "beta: 0.3\nlearning_rate: 1.0e-6\nloss_type: ipo\nbf16: true\n");
        Cli.Result r = Cli.run("train", "--config", recipe.toString(), "--beta", "0.2", "--model", model.toString(),
                "--data", "d.jsonl", "--output", tmp.resolve("o").toString(), "--dry-run");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("beta: 0.2"), r.out());
        assertTrue(r.out().contains("learning_rate: 1.0E-6"), r.out());
        assertTrue(r.out().contains("loss:   ipo"), r.out());
        assertTrue(r.out().contains("recipe key ignored: bf16"), r.out());
        assertFalse(Files.exists(tmp.resolve("o")));
        Cli.Result zephyr = Cli.run("train", "--config", "recipes/zephyr-7b-beta/dpo.yaml", "--dry-run");
        assertEquals(0, zephyr.exit(), zephyr.toString());
        assertTrue(zephyr.out().contains("expected on the training machine"), zephyr.out());
    }
}
