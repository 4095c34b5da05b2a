package io.github.align4j.cli;

import io.github.align4j.eval.Sweep;
import io.github.align4j.eval.SweepConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code align4j sweep}: a grid of preference-tuning runs (losses × β × any trainer field) from one
 * YAML file, resumable, with results.csv, results.md, plots and report.html. See docs/study.md.
 */
@Command(name = "sweep", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class,
        sortOptions = false,
        description = {
            "Run a grid of preference-tuning runs (e.g. dpo/ipo/kto_pair × β) from one YAML file and write "
                    + "results.csv, results.md, plots (PNG, SVG) and report.html into output_dir.",
            "Every cell starts from model_name_or_path; the data is tokenized once and the reference's log-probs "
                    + "are computed once for the grid. Finished cells (cells/<id>/result.json) are not rerun."
        })
final class SweepCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--config", required = true, paramLabel = "FILE.yaml",
            description = "Trainer fields shared by every cell, output_dir, and grid: {field: [values]}.")
    Path config;

    @Option(names = "--dry-run",
            description = "Check the file and print the plan (cells, files, steps, finished cells); load no model, train nothing.")
    boolean dryRun;

    @Option(names = "--output", paramLabel = "DIR", description = "Write here instead of output_dir.")
    Path output;

    @Option(names = "--loss-option", paramLabel = "NAME=VALUE", description = "A loss option for every cell "
            + "(repeatable), added to loss_kwargs, e.g. --loss-option kl_detach=false; a cell's loss gets the ones it reads.")
    List<String> lossOptions = new ArrayList<>();

    @Option(names = "--seeds", paramLabel = "N",
            description = "Runs per cell with seeds seed, seed+1, ... (default: the file's seeds, else 1); the report "
                    + "shows mean ± sd and calls a best β only where every seed agrees.")
    Integer seeds;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (seeds != null && (seeds < 1 || seeds > Sweep.MAX_SEEDS)) {
            throw new io.github.align4j.Align4jException("--seeds must be between 1 and " + Sweep.MAX_SEEDS + ", got " + seeds);
        }
        SweepConfig sc = SweepConfig.load(config);
        if (!lossOptions.isEmpty()) {
            sc = sc.withLossOptions(TrainCommand.lossOptions(lossOptions));
        }
        if (output != null) {
            sc = sc.withOutputDir(output.toString());
        }
        if (dryRun) {
            out.print(sc.plan());
            if (seeds != null) {
                out.println("  --seeds " + seeds + " replaces the file's seeds (" + sc.seeds() + ")");
            }
            out.println("dry run: nothing was trained.");
            out.flush();
            return CliSupport.EXIT_OK;
        }
        out.print(sc.plan());
        out.flush();
        Sweep.run(sc, seeds == null ? 0 : seeds, System.err);
        return CliSupport.EXIT_OK;
    }
}
