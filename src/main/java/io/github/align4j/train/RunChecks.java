package io.github.align4j.train;

import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/** What {@link PreferenceRun} checks before it loads anything: the model folders, the output folder, the files named. */
final class RunChecks {
    private RunChecks() {}

    static void modelFolder(Path dir, String what) {
        if (!Files.isDirectory(dir)) {
            throw new Align4jException(what + " " + dir + ": no such folder. Give a Hugging Face model folder "
                    + "(config.json, model.safetensors, tokenizer.json).");
        }
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            if (Files.isRegularFile(dir.resolve("adapter_config.json"))) {
                throw new Align4jException(what + " " + dir + ": a LoRA adapter, not a model. Merge it into its base first "
                        + "(align4j merge --model BASE --adapter " + dir + " --out MERGED) and give the merged folder");
            }
            throw new Align4jException(what + " " + dir + ": no config.json in this folder");
        }
    }

    static void output(Path dir, boolean overwrite, boolean resume) {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new Align4jException("output_dir (--output) " + dir + " is a file; give a folder");
        }
        if (Files.isDirectory(dir) && !overwrite && !resume) {
            try (Stream<Path> s = Files.list(dir)) {
                if (s.findAny().isPresent()) {
                    throw new Align4jException("output_dir (--output) " + dir + " is not empty; choose a new folder, resume "
                            + "the run there (--resume, PreferenceRun.Builder.resume), or replace its checkpoints and "
                            + "metrics (--overwrite, PreferenceRun.Builder.overwrite)");
                }
            } catch (IOException e) {
                throw new Align4jException("output_dir (--output) " + dir + ": cannot list: " + e.getMessage(), e);
            }
        }
    }

    /** Files named by the settings exist (globs and folders are PreferenceData's to check). */
    static void files(TrainConfig cfg, boolean dataGiven, boolean evalGiven) {
        if (!dataGiven) {
            checkFile(cfg.data().trainFile(), "--data (train_file)");
        }
        if (!cfg.data().evalFile().isEmpty() && !evalGiven) {
            checkFile(cfg.data().evalFile(), "--eval-data (eval_file)");
        }
        if (!cfg.data().chatTemplate().isEmpty() && !Files.isRegularFile(Path.of(cfg.data().chatTemplate()))) {
            throw new Align4jException("--chat-template (chat_template) " + cfg.data().chatTemplate() + ": no such file");
        }
    }

    private static void checkFile(String pathOrGlob, String what) {
        if (pathOrGlob.contains("*") || pathOrGlob.contains("?") || pathOrGlob.contains("[")) {
            return;
        }
        Path p;
        try {
            p = Path.of(pathOrGlob);
        } catch (java.nio.file.InvalidPathException e) {
            throw new Align4jException(what + " '" + pathOrGlob + "': not a valid path");
        }
        if (!Files.exists(p)) {
            throw new Align4jException(what + " " + p + ": no such file or folder");
        }
    }
}
