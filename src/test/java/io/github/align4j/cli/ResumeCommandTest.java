package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The train command's output-folder rules and its checks before any model loads. */
class ResumeCommandTest {
    @TempDir
    static Path shared;
    static ChildRun.Tiny tiny;

    @BeforeAll
    static void setUp() throws Exception {
        tiny = ChildRun.Tiny.make(shared);
    }

    static Cli.Result train(Path out, String... extra) {
        List<String> a = tiny.args(out, 2);
        for (int i = 0; i < extra.length; i++) { // a flag already there gets the new value
            boolean valued = i + 1 < extra.length && !extra[i + 1].startsWith("--");
            int at = a.indexOf(extra[i]);
            if (at >= 0 && valued) {
                a.set(at + 1, extra[++i]);
            } else {
                a.add(extra[i]);
                if (valued) {
                    a.add(extra[++i]);
                }
            }
        }
        return Cli.run(a.toArray(String[]::new));
    }

    @Test
    void outputFolderRules(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        Files.createDirectories(out);
        Files.writeString(out.resolve("mine.txt"), "mine");
        InitCommandTest.assertUserError(train(out), "is not empty", "--resume", "--overwrite");
        InitCommandTest.assertUserError(train(out, "--resume", "--overwrite"), "--resume and --overwrite exclude each other");

        Cli.Result r = train(out, "--resume"); // nothing to resume: starts, and leaves mine.txt alone
        assertEquals(0, r.exit(), r.toString());
        assertEquals("mine", Files.readString(out.resolve("mine.txt")));
        Cli.Result again = train(out, "--overwrite");
        assertEquals(0, again.exit(), again.toString());
        assertEquals("mine", Files.readString(out.resolve("mine.txt")));
        assertEquals(2, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "the earlier run's metrics replaced");

        Path file = dir.resolve("file");
        Files.writeString(file, "x");
        InitCommandTest.assertUserError(train(file), "is a file");

        // what align4j did not write stops --overwrite and --resume (exit 2, listed), and is left as it was
        Files.createDirectories(out.resolve("final-mine"));
        Files.move(out.resolve("final"), dir.resolve("align4j-final"));
        Files.writeString(out.resolve("final-mine/paper.tex"), "mine");
        Files.move(out.resolve("final-mine"), out.resolve("final"));
        Files.createDirectories(out.resolve(".checkpoint-2.tmp"));
        Files.writeString(out.resolve(".checkpoint-2.tmp/notes.txt"), "mine too");
        for (String flag : new String[] {"--overwrite", "--resume"}) {
            InitCommandTest.assertUserError(train(out, flag), "final/ (no align4j manifest.json)",
                    ".checkpoint-2.tmp/ (no align4j manifest.json or .align4j-scratch)", "Move these out of the folder yourself");
        }
        assertEquals("mine", Files.readString(out.resolve("final/paper.tex")));
        assertEquals("mine too", Files.readString(out.resolve(".checkpoint-2.tmp/notes.txt")));

        // a metrics.jsonl linked to a file outside --output is refused, never written through
        Path run2 = dir.resolve("run2");
        assertEquals(0, train(run2).exit());
        Path outside = dir.resolve("bashrc");
        Files.writeString(outside, "export PATH=/usr/bin\n");
        Files.delete(run2.resolve("metrics.jsonl"));
        Files.createSymbolicLink(run2.resolve("metrics.jsonl"), outside);
        for (String flag : new String[] {"--overwrite", "--resume"}) {
            InitCommandTest.assertUserError(train(run2, flag), "metrics.jsonl (a symbolic link)", "never follows");
        }
        assertEquals("export PATH=/usr/bin\n", Files.readString(outside));
    }

    @Test
    void everythingIsCheckedBeforeAModelLoads(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        InitCommandTest.assertUserError(train(out, "--max-nonfinite-steps", "0"), "max_nonfinite_steps", "must be ≥ 1");
        InitCommandTest.assertUserError(train(out, "--lr", "-1"), "learning_rate", "must be ≥ 0");
        InitCommandTest.assertUserError(train(out, "--batch-size", "0"), "per_device_train_batch_size", "must be ≥ 1");
        InitCommandTest.assertUserError(train(out, "--max-length", "16", "--max-prompt-length", "32"),
                "max_prompt_length 32 (from command line) must be smaller than max_length 16 (from command line)");
        InitCommandTest.assertUserError(train(out, "--data", dir.resolve("missing.jsonl").toString()),
                "--data (train_file) " + dir.resolve("missing.jsonl") + ": no such file");
        InitCommandTest.assertUserError(train(out, "--chat-template", dir.resolve("t.jinja").toString()), "t.jinja: no such file");

        Path recipe = dir.resolve("r.yaml");
        Files.writeString(recipe, "# a recipe\nbeta: 0.2\nlearnin_rate: 1.0e-6\n");
        InitCommandTest.assertUserError(train(out, "--config", recipe.toString()),
                recipe + ":3: unknown key 'learnin_rate' (did you mean 'learning_rate'?)");
        Files.writeString(recipe, "beta: 0.2\nbeta: 0.3\n");
        InitCommandTest.assertUserError(train(out, "--config", recipe.toString()), recipe + ":2: not a valid YAML recipe", "given twice");
        Files.writeString(recipe, "beta: -1\n");
        InitCommandTest.assertUserError(train(out, "--config", recipe.toString()), recipe + ":1: key 'beta' must be > 0");
        Files.writeString(recipe, "- beta\n- 0.1\n");
        InitCommandTest.assertUserError(train(out, "--config", recipe.toString()), "a recipe is a YAML mapping");
        assertFalse(Files.exists(out), "nothing written by a refused run");
    }
}
