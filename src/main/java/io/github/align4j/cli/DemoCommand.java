package io.github.align4j.cli;

import io.github.align4j.Align4jException;
import io.github.align4j.eval.Demo;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code align4j demo}: the DPO / IPO / KTO β-scan on a task generated from a seed, end to end with
 * no files and no network. See docs/study.md.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class,
        sortOptions = false,
        description = {
            "Build a small Llama model, SFT it on generated product reviews, label pairs of its samples with a "
                    + "lexicon-sentiment judge, run dpo/ipo/kto_pair/kto × β, judge every cell on held-out prompts "
                    + "(win rate vs the SFT model with 95%% intervals, reward, KL, preference accuracy) and write "
                    + "results.csv, results.md, plots and report.html.",
            "Every cell runs over 3 seeds (--seeds); the report shows mean ± sd and calls a difference only where every "
                    + "seed agrees. About 3.5 minutes on two idle cores (at most 10); --quick (8 cells, fewer steps and "
                    + "samples) about a minute."
        })
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--output", defaultValue = "align4j-demo", paramLabel = "DIR",
            description = "Where to write (default: ${DEFAULT-VALUE}). A rerun reuses the SFT model and finished cells.")
    Path output;

    @Option(names = "--quick", description = "A smaller run for smoke tests: 2 β values, fewer steps and samples.")
    boolean quick;

    @Option(names = "--losses", split = ",", paramLabel = "LOSS",
            description = "Losses of the grid (default: dpo,ipo,kto_pair,kto).")
    List<String> losses;

    @Option(names = "--betas", split = ",", paramLabel = "BETA",
            description = "β values of the grid (default: 0.01,0.1,0.3,0.6,0.9; --quick: 0.1,0.6).")
    List<Double> betas;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the corpus, the model, sampling and training (default 1).")
    Long seed;

    @Option(names = "--seeds", paramLabel = "N",
            description = "Runs per cell, seeds --seed, --seed+1, ... of training and judge sampling (default 3).")
    Integer seeds;

    @Option(names = "--threads", paramLabel = "N",
            description = "PyTorch threads while the demo runs (default 1: fastest for a model this small).")
    Integer threads;

    @Option(names = "--online", description = "Instead of the grid: offline DPO against online DPO (samples of the "
            + "current policy ranked by the judge every step) at the same number of judge calls, over --seeds seeds; "
            + "writes online.md and online.csv.")
    boolean online;

    @Option(names = "--online-beta", paramLabel = "BETA", defaultValue = "0.1",
            description = "With --online: the β of both runs (default: ${DEFAULT-VALUE}).")
    double onlineBeta;

    @Override
    public Integer call() {
        Demo.Options o = quick ? Demo.Options.quick(output) : Demo.Options.full(output);
        if (losses != null || betas != null) {
            o = o.withGrid(losses != null ? losses : o.losses(), betas != null ? betas : o.betas());
        }
        if (seed != null) {
            o = o.withSeed(seed);
        }
        if (seeds != null) {
            if (seeds < 1) {
                throw new Align4jException("--seeds must be ≥ 1, got " + seeds);
            }
            o = o.withSeeds(seeds);
        }
        if (threads != null) {
            if (threads < 1) {
                throw new Align4jException("--threads must be ≥ 1, got " + threads);
            }
            o = o.withThreads(threads);
        }
        if (online) {
            if (!(onlineBeta > 0) || Double.isInfinite(onlineBeta)) {
                throw new Align4jException("--online-beta must be a finite number > 0, got " + onlineBeta);
            }
            Demo.online(o, onlineBeta, System.err);
            return CliSupport.EXIT_OK;
        }
        Demo.run(o, System.err);
        return CliSupport.EXIT_OK;
    }
}
