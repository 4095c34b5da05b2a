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

    @Option(names = "--shard", paramLabel = "I/N|env", description = "Run only shard I of N (I from 0 to N−1): run r "
            + "(grid order, seeds together) belongs to shard r mod N, the same on every machine. 'env' reads I from "
            + "JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm array) and N from --shards or "
            + "the file's shards:. Shards share output_dir and write no report; see --report. docs/distributed.md.")
    String shard;

    @Option(names = "--shards", paramLabel = "N", description = "How many shards (for --shard env; default: the file's shards:).")
    Integer shards;

    @Option(names = "--report", description = "Train nothing: build results.csv, results_summary.csv, results.md, plots "
            + "and report.html from the runs finished so far, naming the ones not finished (exit 0 either way).")
    boolean report;

    @Option(names = "--gpu-memory", paramLabel = "GIB", description = "With --dry-run: plan each cell's memory against one "
            + "GPU of this many GiB (e.g. 80) instead of the device seen here; needs the model's config.json only.")
    Double gpuMemory;

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
        if (report && (shard != null || dryRun)) {
            throw new io.github.align4j.Align4jException("--report trains nothing: give it without --shard and --dry-run");
        }
        if (shards != null && shard == null) {
            throw new io.github.align4j.Align4jException("--shards " + shards + " goes with --shard env (or --shard I/N)");
        }
        Sweep.Shard sh = shard == null ? null : Sweep.Shard.parse(shard, shards != null ? shards : sc.shards(), System::getenv);
        if (report) {
            Sweep.Status st = Sweep.report(sc, seeds == null ? 0 : seeds, System.err);
            out.println(st.complete() ? String.format(java.util.Locale.ROOT, "report of all %d runs: %s", st.runs(),
                    sc.outputDir().resolve("report.html")) : String.format(java.util.Locale.ROOT, "partial report: %d of %d "
                    + "runs finished; not finished yet: %s", st.finished().cells().size(), st.runs(), String.join(", ", st.missing())));
            out.flush();
            return CliSupport.EXIT_OK;
        }
        if (gpuMemory != null && !(gpuMemory > 0 && gpuMemory < 1e6)) {
            throw new io.github.align4j.Align4jException("--gpu-memory: expected GiB above 0, e.g. 80, got " + gpuMemory);
        }
        if (dryRun) {
            out.print(sc.plan(gpuMemory == null ? -1 : (long) (gpuMemory * (1L << 30))));
            if (seeds != null) {
                out.println("  --seeds " + seeds + " replaces the file's seeds (" + sc.seeds() + ")");
            }
            if (sh != null) {
                int perCell = seeds != null ? seeds : sc.seeds();
                List<String> mine = new ArrayList<>();
                List<Sweep.Cell> cells = sc.cells();
                for (int r = 0; r < cells.size() * perCell; r++) {
                    if (sh.owns(r)) {
                        mine.add(cells.get(r / perCell).id() + (perCell == 1 ? "" : " seed "
                                + ((long) sc.base().optimization().seed() + r % perCell)));
                    }
                }
                out.println("  shard      " + sh + ": " + mine.size() + " run(s): " + (mine.size() > 40
                        ? String.join(", ", mine.subList(0, 40)) + ", ..." : String.join(", ", mine)));
            }
            out.println("dry run: nothing was trained.");
            out.flush();
            return CliSupport.EXIT_OK;
        }
        out.print(sc.plan());
        if (sh != null) {
            out.println("  shard      " + sh + ": runs r with r mod " + sh.count() + " = " + sh.index()
                    + " (no report: align4j sweep --config " + config + " --report when every shard has finished)");
        }
        out.flush();
        Sweep.run(sc, seeds == null ? 0 : seeds, sh, System.err);
        return CliSupport.EXIT_OK;
    }
}
