package io.github.align4j.eval;

import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.model.CausalLM;
import io.github.align4j.train.PreferenceRun;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Runs a sweep's cells: for each run not finished yet (grid order, the seeds of a cell together, only a shard's
 * runs when one is given) a {@link PreferenceRun} of the cell's settings against the one frozen reference, the
 * judge's and MT-Bench's scores of the trained model, and its result written by {@link SweepResults}.
 */
final class SweepCells {
    private final Sweep sweep;
    private final SweepResults results;

    SweepCells(Sweep sweep, SweepResults results) {
        this.sweep = sweep;
        this.results = results;
    }

    /** Optimizer steps of one cell's run. */
    static long steps(Sweep sweep, Sweep.Cell cell) {
        TrainConfig c = sweep.config(cell);
        if (c.optimization().maxSteps() > 0) {
            return c.optimization().maxSteps();
        }
        boolean unpaired = SweepGrid.loss(c).dataKind() == PreferenceLoss.DataKind.UNPAIRED;
        return PreferenceTrainer.totalSteps(unpaired ? 2L * sweep.trainPairs.size() : sweep.trainPairs.size(), c);
    }

    /** Every run not already finished (only the shard's when shard is set), then all results in grid order. */
    Sweep.Result runAll(Sweep.Shard shard) {
        List<Sweep.Cell> cells = sweep.cells();
        int seeds = sweep.seeds();
        Sweep.Listener listener = sweep.listener;
        List<Sweep.CellResult> out = new ArrayList<>();
        CausalLM reference = null;
        Map<Integer, JudgeRun> judgeRuns = new LinkedHashMap<>(); // per seed: the reference's samples of that seed
        int total = cells.size() * seeds;
        try {
            for (int ci = 0; ci < cells.size(); ci++) {
                Sweep.Cell cell = cells.get(ci);
                long steps = steps(sweep, cell);
                for (int k = 0; k < seeds; k++) {
                    int i = ci * seeds + k;
                    if (shard != null && !shard.owns(i)) {
                        continue;
                    }
                    long seed = sweep.seed(k);
                    if (listener != null) {
                        listener.cellStarted(i, total, cell, steps);
                    }
                    Sweep.CellResult r = results.read(cell, seed);
                    if (r == null) {
                        if (reference == null) {
                            reference = CausalLM.load(sweep.model, new CausalLM.Options(sweep.device, false, DataType.FLOAT32));
                        }
                        JudgeRun judgeRun = null;
                        if (sweep.judge != null) {
                            final CausalLM ref = reference;
                            final int offset = k;
                            judgeRun = judgeRuns.computeIfAbsent(k, x -> new JudgeRun(ref, sweep.tokenizer, sweep.judgePrompts,
                                    sweep.judge, sweep.sampling.withSeed(sweep.sampling.seed() + offset)));
                        }
                        r = runCell(cell, seed, reference, judgeRun, steps);
                        results.write(r);
                    } else if (sweep.mtBench != null && !Double.isFinite(r.metric("mt_bench"))) {
                        r = scoreOnly(r); // trained before the eval entry was added: score the saved model
                        results.write(r);
                    }
                    out.add(r);
                    if (listener != null) {
                        listener.cellFinished(i, total, r);
                    }
                }
            }
        } finally {
            if (reference != null) {
                reference.close();
            }
        }
        return new Sweep.Result(List.copyOf(out), sweep.primaryMetric(), sweep.output);
    }

    private Sweep.CellResult runCell(Sweep.Cell cell, long seed, CausalLM reference, JudgeRun judgeRun, long steps) {
        long start = System.nanoTime();
        TrainConfig c = sweep.config(cell, seed);
        PreferenceLoss loss = c.loss(); // the run builds the same from c
        Path dir = sweep.cellDir(cell, seed);
        Map<String, Double> m = new LinkedHashMap<>();
        Sweep.Listener listener = sweep.listener;
        // the cell is a run of the library's, as align4j train runs it: LoRA, torch_dtype and the rest of its keys apply
        PreferenceRun.Builder b = PreferenceRun.builder().config(c.toBuilder().modelPath(sweep.model.toString())
                        .outputDir(dir.toString()).build())
                // a run begun with these same settings (a killed process, a retried Spark task, a preempted pod)
                // continues from its newest checkpoint; any other run in the folder is trained again from the start
                .resume(results.begun(cell, seed)).overwrite(!results.begun(cell, seed))
                .cacheDir(sweep.output.resolve("cache")).console(null)
                .onStep((step, seconds, tokens) -> {
                    if (listener != null) {
                        listener.step(cell, step, steps);
                    }
                })
                .onTrained((policy, tr) -> {
                    if (judgeRun != null) {
                        JudgeEval j = judgeRun.evaluate(policy);
                        m.put("win_rate", j.winRate());
                        m.put("win_rate_low", j.winRateLow());
                        m.put("win_rate_high", j.winRateHigh());
                        m.put("mean_reward", j.meanReward());
                        m.put("sft_mean_reward", j.referenceMeanReward());
                        m.put("kl", j.klToReference());
                    }
                });
        if (!c.lora().enabled()) {
            b.reference(reference); // one frozen reference for every cell; under LoRA it is the base with adapters off
        }
        if (loss.dataKind() == PreferenceLoss.DataKind.UNPAIRED) {
            b.trainUnpaired(unpaired(sweep.trainPairs, c.optimization().seed()));
        } else {
            b.trainPairs(sweep.trainPairs);
        }
        if (sweep.evalPairs != null && !sweep.evalPairs.isEmpty()) {
            b.evalPairs(sweep.evalPairs);
        }
        boolean resumed = results.begun(cell, seed);
        if (!resumed) {
            results.writeBegun(cell, seed);
        } else if (sweep.console != null) {
            sweep.console.println("  " + cell.id() + (sweep.seeds() == 1 ? "" : " seed " + seed) + ": resuming its "
                    + "unfinished run from the newest checkpoint in " + dir);
        }
        PreferenceTrainer.TrainResult tr = b.build().train();
        Path finalModel = tr.finalCheckpoint();
        Map<String, Object> ev = tr.lastEval() == null ? Map.of() : tr.lastEval();
        m.put("pref_accuracy", number(ev.get("eval_rewards/accuracies")));
        m.put("pref_margin", number(ev.get("eval_rewards/margins")));
        m.put("eval_loss", number(ev.get("eval_loss")));
        m.put("train_loss", number(tr.lastTrain() == null ? null : tr.lastTrain().get("loss")));
        m.put("steps", (double) tr.steps());
        if (sweep.mtBench != null) {
            putMtBench(m, finalModel, dir, seed);
        }
        return new Sweep.CellResult(cell, m, (System.nanoTime() - start) / 1e9, false, seed);
    }

    private void putMtBench(Map<String, Double> m, Path finalModel, Path dir, long seed) {
        if (finalModel == null || !Files.isDirectory(finalModel)) {
            throw new Align4jException(dir + ": no final checkpoint to score with MT-Bench; delete the folder to train "
                    + "the cell again");
        }
        // a LoRA cell's final/ holds its adapter: MT-Bench answers with the sweep's base model and that adapter
        boolean adapter = Files.isRegularFile(finalModel.resolve("adapter_config.json"));
        MtBench.Result r = sweep.mtBench.score(adapter ? sweep.model : finalModel, adapter ? finalModel : null,
                dir.resolve("mt_bench"), sweep.output.resolve("cache").resolve("mt_bench_judge.jsonl"), sweep.device, seed,
                sweep.console == null ? null : sweep.console::println);
        m.put("mt_bench", r.score());
        m.put("mt_bench_turn1", r.scores().turn1());
        m.put("mt_bench_turn2", r.scores().turn2());
    }

    private Sweep.CellResult scoreOnly(Sweep.CellResult r) {
        long start = System.nanoTime();
        Path dir = sweep.cellDir(r.cell(), r.seed());
        Map<String, Double> m = new LinkedHashMap<>(r.metrics());
        putMtBench(m, dir.resolve("final"), dir, r.seed());
        return new Sweep.CellResult(r.cell(), m, r.seconds() + (System.nanoTime() - start) / 1e9, false, r.seed());
    }

    private static double number(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    /** Each pair as a desirable (chosen) and an undesirable (rejected) example, shuffled with the seed. */
    static List<TokenizedUnpaired> unpaired(List<TokenizedPair> pairs, long seed) {
        List<TokenizedUnpaired> out = new ArrayList<>(2 * pairs.size());
        for (TokenizedPair p : pairs) {
            out.add(new TokenizedUnpaired(p.prompt(), p.chosen(), true, p.row()));
            out.add(new TokenizedUnpaired(p.prompt(), p.rejected(), false, p.row()));
        }
        Collections.shuffle(out, new Random(seed));
        return out;
    }
}
