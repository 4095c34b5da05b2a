package io.github.align4j.eval;

import io.github.align4j.Align4jException;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.TrainConfig;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * A sweep file's run ({@code align4j sweep}, a shard of it, a Spark task) and its report ({@code --report}): locks
 * the output folder, reads the tokenizer and the data once, builds the {@link Sweep}, and writes the report of the
 * finished runs or tells a shard what is left. {@link Sweep#run(SweepConfig, int, Sweep.Shard, PrintStream)} and
 * {@link Sweep#report} delegate here.
 */
final class SweepFileRun {
    private SweepFileRun() {}

    static Sweep.Result run(SweepConfig sc, int seeds, Sweep.Shard shard, PrintStream console) {
        try (SweepLock lock = shard == null ? SweepLock.acquire(sc.outputDir()) : SweepLock.acquire(sc.outputDir(), shard)) {
            return open(sc, seeds, console, sweep -> {
                sweep.listener = new ConsoleListener(console, sweep, shard);
                Sweep.Result r = sweep.runLocked(shard);
                if (shard == null) {
                    writeReport(sc, r, List.of(), console);
                } else if (console != null) {
                    Sweep.Status st = sweep.status();
                    console.printf(Locale.ROOT, "shard %s: %d run(s) here; %d of %d runs of the sweep finished%n", shard,
                            r.cells().size(), st.finished().cells().size(), st.runs());
                    console.println(st.complete() ? "every run has finished: build the report with align4j sweep --config "
                            + sc.file() + " --report" : "when every shard has finished: align4j sweep --config " + sc.file()
                            + " --report");
                }
                return r;
            });
        }
    }

    static Sweep.Status report(SweepConfig sc, int seeds, PrintStream console) {
        try (SweepLock lock = SweepLock.acquire(sc.outputDir())) {
            return open(sc, seeds, console, sweep -> {
                Sweep.Status st = sweep.status();
                if (st.finished().cells().isEmpty()) {
                    throw new Align4jException(sc.outputDir() + ": no run of this sweep has finished yet (0 of " + st.runs()
                            + "); run the sweep (or its shards: --shard I/N) first");
                }
                writeReport(sc, st.finished(), st.missing(), console);
                return st;
            });
        }
    }

    private static void writeReport(SweepConfig sc, Sweep.Result r, List<String> missing, PrintStream console) {
        String headline = Sweep.summary(r);
        if (!missing.isEmpty()) {
            headline = String.format(Locale.ROOT, "Partial report: %d of %d runs finished; not finished yet: %s. ",
                    r.cells().size(), r.cells().size() + missing.size(), shortList(missing)) + headline;
        }
        Report.write(r, "align4j sweep: " + sc.file().getFileName(), sc.text(), headline, sc.outputDir());
        if (console != null) {
            console.println();
            console.println(Report.table(r));
            console.println(headline);
            console.println("report: " + sc.outputDir().resolve("report.html"));
        }
    }

    private static String shortList(List<String> names) {
        int shown = Math.min(names.size(), 20);
        return String.join(", ", names.subList(0, shown)) + (names.size() > shown ? " and " + (names.size() - shown)
                + " more" : "");
    }

    /** Checks the file, reads the tokenizer and the data once, builds the sweep and hands it to body. */
    private static <T> T open(SweepConfig sc, int seeds, PrintStream console, Function<Sweep, T> body) {
        TrainConfig base = sc.base();
        Path model = Path.of(base.model().path());
        if (base.model().path().isBlank() || !Files.isDirectory(model)) {
            throw new Align4jException(sc.file() + ": model_name_or_path '" + base.model().path()
                    + "' is not a folder here; download the model (config.json, *.safetensors, tokenizer files) first");
        }
        if (!base.reference().path().isBlank()) {
            throw new Align4jException(sc.file() + ": ref_model is not supported in a sweep yet: the reference is the "
                    + "starting model (model_name_or_path); remove ref_model");
        }
        if (base.data().trainFile().isBlank()) {
            throw new Align4jException(sc.file() + ": no train_file; add the preference data's path");
        }
        ModelConfig mc = ModelConfig.load(model);
        try (TextTokenizer tok = TextTokenizer.load(model, mc.eosTokenId())) { // the caller holds the lock: before the data is tokenized into its cache
            DataOptions opts = DataOptions.defaults()
                    .withMaxLength(base.data().maxLength()).withMaxPromptLength(base.data().maxPromptLength())
                    .withApplyChatTemplate(base.data().applyChatTemplate())
                    .withChatTemplateFile(base.data().chatTemplate().isBlank() ? null : Path.of(base.data().chatTemplate()))
                    .withCacheDir(sc.outputDir().resolve("cache").resolve("tokenized"));
            long t = System.nanoTime();
            PreferenceData train = PreferenceData.load(base.data().trainFile(), opts, tok);
            PreferenceData eval = null;
            if (!base.data().evalFile().isBlank()) {
                eval = PreferenceData.load(base.data().evalFile(), opts, tok);
            } else if (base.data().evalSplit() > 0) {
                PreferenceData[] parts = train.split(base.data().evalSplit(), base.optimization().seed());
                train = parts[0];
                eval = parts[1];
            }
            if (!train.paired()) {
                throw new Align4jException(base.data().trainFile() + ": the sweep needs paired data (prompt, chosen, rejected): "
                        + "paired losses train on it and KTO gets each pair as two unpaired examples");
            }
            List<TokenizedPair> evalPairs = eval != null && eval.paired() ? eval.pairs() : List.of();
            if (console != null) {
                console.printf(Locale.ROOT, "data: %d training pairs, %d held-out pairs (%s layout; tokenized once for the "
                        + "grid, %.1f s)%n", train.pairs().size(), evalPairs.size(), train.layout(), (System.nanoTime() - t) / 1e9);
            }
            Sweep.Builder b = Sweep.builder().base(base).grid(sc.grid()).model(model).trainPairs(train.pairs())
                    .evalPairs(evalPairs).output(sc.outputDir()).console(console).seeds(seeds > 0 ? seeds : sc.seeds())
                    .mtBench(sc.mtBench());
            if (sc.judge() != null) {
                LinkedHashSet<String> prompts = new LinkedHashSet<>();
                for (TokenizedPair p : evalPairs) {
                    prompts.add(tok.decode(p.prompt(), false));
                }
                if (prompts.isEmpty()) {
                    throw new Align4jException(sc.file() + ": judge '" + sc.judge() + "' needs held-out prompts: set eval_file "
                            + "or eval_split");
                }
                b.judge(Judges.byName(sc.judge()), new ArrayList<>(prompts), new SamplingOptions(sc.maxNewTokens(),
                        sc.temperature(), 1.0, 0, base.optimization().seed(), sc.judgeSamples()), tok);
            }
            return body.apply(b.build());
        }
    }

    /** One line per finished cell and a step progress bar. */
    static final class ConsoleListener implements Sweep.Listener {
        private final PrintStream out;
        private final Progress bar;
        private final String primary;
        private int runsLeft;

        ConsoleListener(PrintStream out, Sweep sweep, Sweep.Shard shard) {
            this.out = out;
            long total = 0;
            for (int r = 0; r < sweep.runs(); r++) {
                if (shard == null || shard.owns(r)) {
                    total += SweepCells.steps(sweep, sweep.cells().get(r / sweep.seeds()));
                    runsLeft++;
                }
            }
            this.bar = new Progress(out, total);
            this.primary = sweep.primaryMetric();
        }

        @Override
        public void cellStarted(int index, int total, Sweep.Cell cell, long steps) {
            bar.label(String.format(Locale.ROOT, "run %d/%d %s", index + 1, total, cell.id()));
        }

        @Override
        public void step(Sweep.Cell cell, long step, long steps) {
            bar.advance(1);
        }

        @Override
        public void cellFinished(int index, int total, Sweep.CellResult r) {
            if (r.reused()) {
                bar.skip(r.metric("steps") > 0 ? (long) r.metric("steps") : 0);
            }
            bar.println(String.format(Locale.ROOT, "  %-24s seed %-4d %s %s  %.1f s%s", r.cell().id(), r.seed(), primary,
                    Report.shown(r, primary), r.seconds(), r.reused() ? " (reused)" : ""));
            if (--runsLeft == 0) {
                bar.finish();
            }
        }
    }
}
