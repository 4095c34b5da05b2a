package io.github.align4j.eval;

import ai.djl.Device;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Devices;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.TrainConfig;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * A grid of preference-tuning runs (losses × β × any other trainer field) from one starting model,
 * evaluated on held-out data, as in Hugging Face's "Preference Tuning LLMs with Direct Preference
 * Optimization Methods" scan.
 *
 * <pre>{@code
 * Sweep.Result r = Sweep.builder()
 *     .base(TrainConfig.defaults().with(Map.of("learning_rate", 5e-7), "code"))
 *     .grid(Map.of("loss_type", List.of("dpo", "ipo", "kto_pair"), "beta", List.of(0.01, 0.1, 0.5)))
 *     .model(sftFolder).trainPairs(train).evalPairs(heldOut)
 *     .judge(judge, heldOutPrompts, samplingOptions, tokenizer)   // optional
 *     .output(Path.of("runs/scan"))
 *     .build().run();
 * }</pre>
 *
 * <p>The data is tokenized once (the caller passes token ids) and shared by every cell; the
 * reference (the starting model, frozen) is loaded once and its log-probs are computed once for
 * the grid ({@code precompute_ref_log_probs} with one cache folder, {@code OUTPUT/cache}). Each
 * cell trains a fresh copy of the starting model into {@code OUTPUT/cells/<id>/} and, when done,
 * writes {@code result.json} (to a temporary name, then moved): a rerun reuses every cell whose
 * result exists, so an interrupted sweep resumes where it stopped. Unpaired losses (KTO) get the
 * pairs split into a desirable and an undesirable example each.
 *
 * <p>Metrics per cell: {@code pref_accuracy}, {@code pref_margin} and {@code eval_loss} on the
 * held-out pairs; with a judge also {@code win_rate} (against the starting model's samples, ties
 * ½) with its 95% Wilson interval {@code win_rate_low}/{@code win_rate_high}, {@code mean_reward},
 * {@code sft_mean_reward} and {@code kl} (Monte-Carlo KL(policy‖reference) per completion).
 *
 * <p>Its parts (package-private): {@link SweepGrid} expands and names the cells, {@link SweepCells} runs
 * them, {@link SweepResults} keeps their files, {@link SweepFileRun} runs a sweep file and builds its report.
 */
public final class Sweep {
    static {
        Offline.ensure();
    }

    /** Most runs per cell ({@code seeds:}, {@code --seeds}): a handful tells a finding from one trajectory. */
    public static final int MAX_SEEDS = 1000;
    /** The file a running sweep holds locked in its output folder. */
    static final String LOCK = ".align4j-sweep.lock";

    /** One point of the grid: the trainer fields it sets. */
    public record Cell(Map<String, Object> values) {
        public Cell {
            values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
        }

        /** The loss name ({@code loss_type}, or {@code loss_weights} when set), "dpo" if the grid sets neither. */
        public String algorithm() {
            Object w = values.get("loss_weights");
            if (w != null && !w.toString().isBlank()) {
                return w.toString();
            }
            Object l = values.get("loss_type");
            return l == null ? "dpo" : l.toString();
        }

        /** β, or NaN when the grid does not set it. */
        public double beta() {
            Object b = values.get("beta");
            return b instanceof Number n ? n.doubleValue() : b == null ? Double.NaN : Double.parseDouble(b.toString());
        }

        /** The row of the results table: the algorithm plus every grid field other than β. */
        public String row() {
            return SweepGrid.row(this);
        }

        /** A folder name: {@code dpo-beta0.1}, with other fields appended as {@code -key=value}. */
        public String id() {
            return SweepGrid.id(this);
        }
    }

    /** A cell's metrics for one seed (NaN where not measured). */
    public record CellResult(Cell cell, Map<String, Double> metrics, double seconds, boolean reused, long seed) {
        /** A result of the base seed 0. */
        public CellResult(Cell cell, Map<String, Double> metrics, double seconds, boolean reused) {
            this(cell, metrics, seconds, reused, 0);
        }

        public double metric(String name) {
            Double v = metrics.get(name);
            return v == null ? Double.NaN : v;
        }
    }

    /**
     * Every run's result, in grid order with the seeds of a cell together ({@link #cells}), and the
     * cells over their seeds ({@link #summaries}).
     */
    public record Result(List<CellResult> cells, String primaryMetric, Path output) {
        /** One entry per grid cell: its seeds' results with mean, spread and range per metric. */
        public List<CellSummary> summaries() {
            return CellSummary.of(cells);
        }

        /** Seeds per cell (the most any cell has). */
        public int seeds() {
            return summaries().stream().mapToInt(s -> s.runs().size()).max().orElse(0);
        }

        /** The best cell of each row by the primary metric's mean over seeds, keyed by row label in grid order. */
        public Map<String, CellSummary> bestPerRow() {
            Map<String, CellSummary> best = new LinkedHashMap<>();
            for (CellSummary c : summaries()) {
                CellSummary b = best.get(c.cell().row());
                if (b == null || better(c.mean(primaryMetric), b.mean(primaryMetric))) {
                    best.put(c.cell().row(), c);
                }
            }
            return best;
        }

        /** The best cell of the whole grid by the primary metric's mean over seeds. */
        public CellSummary best() {
            CellSummary best = null;
            for (CellSummary c : summaries()) {
                if (best == null || better(c.mean(primaryMetric), best.mean(primaryMetric))) {
                    best = c;
                }
            }
            return best;
        }

        private static boolean better(double a, double b) {
            return !Double.isNaN(a) && (Double.isNaN(b) || a > b);
        }
    }

    /** Told when a cell starts and finishes (progress display, embedding applications). */
    public interface Listener {
        default void cellStarted(int index, int total, Cell cell, long steps) {}

        default void step(Cell cell, long step, long steps) {}

        default void cellFinished(int index, int total, CellResult result) {}
    }

    /**
     * Which runs of a sweep one process trains, for array jobs (Kubernetes Indexed Jobs, Slurm arrays) and
     * Spark tasks: run {@code r} (grid order, the seeds of a cell together, from 0) belongs to shard
     * {@code r mod count}. The assignment depends only on the sweep file (grid and seeds), so every
     * process of an array computes the same one; shard sizes differ by at most one run.
     *
     * @param index this shard, from 0 to {@code count - 1}
     * @param count how many shards the sweep is split into
     */
    public record Shard(int index, int count) {
        /** Environment variables that name an array job's index: Kubernetes Indexed Jobs, then Slurm arrays. */
        public static final List<String> INDEX_VARIABLES = List.of("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID");

        public Shard {
            if (count < 1 || index < 0 || index >= count) {
                throw new Align4jException("shard " + index + "/" + count + ": expected I/N with N ≥ 1 and I from 0 to N−1, "
                        + "e.g. --shard 0/8 ... --shard 7/8");
            }
        }

        /** Whether run {@code run} (0-based, grid order, seeds of a cell together) is this shard's. */
        public boolean owns(int run) {
            return run % count == index;
        }

        /**
         * Reads {@code --shard}: {@code I/N}, or {@code env} for the index from {@link #INDEX_VARIABLES} with
         * the count from {@code count} (a flag or the sweep file's {@code shards:}).
         *
         * @param spec {@code I/N} or {@code env}
         * @param count the number of shards for {@code env} (null: not given); with {@code I/N} it must agree
         * @param env the environment (e.g. {@code System::getenv})
         */
        public static Shard parse(String spec, Integer count, Function<String, String> env) {
            return SweepShards.parse(spec, count, env);
        }

        @Override
        public String toString() {
            return index + "/" + count;
        }
    }

    /**
     * What {@link #report} found: the finished runs (the report's content) and the runs not finished yet,
     * each named {@code <cell id>} or {@code <cell id> seed <seed>}.
     */
    public record Status(Result finished, List<String> missing, int runs) {
        public boolean complete() {
            return missing.isEmpty();
        }
    }

    // read by SweepCells (the runs) and SweepResults (their files), which work for this sweep
    private final TrainConfig base;
    private final List<Cell> cells;
    final Path model;
    final List<TokenizedPair> trainPairs;
    final List<TokenizedPair> evalPairs;
    final Judge judge;
    final List<String> judgePrompts;
    final SamplingOptions sampling;
    final TextTokenizer tokenizer;
    final Path output;
    final PrintStream console;
    Listener listener;
    final Device device;
    private final int seeds;
    final SweepEval mtBench;
    private final SweepResults results = new SweepResults(this);

    private Sweep(Builder b) {
        if (b.model == null) {
            throw new Align4jException("a sweep needs the starting model's folder (model_name_or_path)");
        }
        if (b.trainPairs == null || b.trainPairs.isEmpty()) {
            throw new Align4jException("a sweep needs training pairs");
        }
        if (b.output == null) {
            throw new Align4jException("a sweep needs an output folder (output_dir)");
        }
        if (b.judge != null && (b.tokenizer == null || b.judgePrompts == null || b.judgePrompts.isEmpty())) {
            throw new Align4jException("judging a sweep needs the tokenizer and at least one held-out prompt");
        }
        this.base = b.base.with("precompute_ref_log_probs", true, "sweep");
        this.cells = SweepGrid.expand(b.grid, base);
        this.model = b.model;
        this.trainPairs = b.trainPairs;
        this.evalPairs = b.evalPairs;
        this.judge = b.judge;
        this.judgePrompts = b.judgePrompts;
        this.sampling = b.sampling;
        this.tokenizer = b.tokenizer;
        this.output = b.output;
        this.console = b.console;
        this.listener = b.listener;
        this.device = Devices.resolve(base.model().device().toString());
        if (b.seeds < 1 || b.seeds > MAX_SEEDS) {
            throw new Align4jException("seeds must be between 1 and " + MAX_SEEDS + ", got " + b.seeds);
        }
        this.seeds = b.seeds;
        this.mtBench = b.mtBench;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The grid's cells in order: the first field varies slowest (YAML order), β usually last. */
    public List<Cell> cells() {
        return cells;
    }

    /** The name of the metric that picks the best cell: mt_bench with MT-Bench, win_rate with a judge, else pref_accuracy. */
    public String primaryMetric() {
        return mtBench != null ? "mt_bench" : judge != null ? "win_rate" : "pref_accuracy";
    }

    /** Seeds per cell: the base config's seed, seed + 1, .... */
    public int seeds() {
        return seeds;
    }

    /** The seed of a cell's k-th run. */
    long seed(int k) {
        return (long) base.optimization().seed() + k;
    }

    /**
     * The trainer settings of one cell. Loss options that the cell's loss does not read (KTO's
     * weights in a DPO cell, {@code kl_detach} in an IPO cell) are left out, so the cell records
     * and trains exactly what its loss uses; a value the loss reads but rejects is an error.
     */
    public TrainConfig config(Cell cell) {
        return SweepGrid.forItsLoss(base.with(cell.values(), "grid " + cell.id()).validated());
    }

    /** The trainer settings of one cell's run with this seed. */
    TrainConfig config(Cell cell, long seed) {
        return seed == base.optimization().seed() ? config(cell) : config(cell).with("seed", Math.toIntExact(seed), "seeds");
    }

    /** A value as the tables and folder names show it (see {@link SweepGrid#format}). */
    static String format(Object v) {
        return SweepGrid.format(v);
    }

    /** Where a cell writes its metrics, checkpoint and result (the base seed's run). */
    public Path cellDir(Cell cell) {
        return cellDir(cell, seed(0));
    }

    /** Where one seed's run of a cell writes: {@code cells/<id>/} with one seed, else {@code cells/<id>/seed-<seed>/}. */
    public Path cellDir(Cell cell, long seed) {
        Path d = output.resolve("cells").resolve(cell.id());
        return seeds == 1 ? d : d.resolve("seed-" + seed);
    }

    /**
     * Runs every cell not already finished, then returns all results in grid order. The output
     * folder is locked for the sweep: a second sweep on it stops at once.
     */
    public Result run() {
        try (SweepLock lock = SweepLock.acquire(output)) {
            return runLocked(null);
        }
    }

    /** The number of runs: cells × seeds. */
    public int runs() {
        return cells.size() * seeds;
    }

    /** {@link #run()} with the output folder's lock already held; only the shard's runs when shard is set. */
    Result runLocked(Shard shard) {
        return new SweepCells(this, results).runAll(shard);
    }

    /** The finished runs (result.json present and written with these settings) and the missing ones, in grid order. */
    Status status() {
        return results.status();
    }

    /**
     * Runs a sweep file: reads the tokenizer and the data once (train_file, and eval_file or an
     * eval_split of the training rows), runs every unfinished cell and writes the report into
     * output_dir.
     */
    public static Result run(SweepConfig sc, PrintStream console) {
        return run(sc, 0, console);
    }

    /** As {@link #run(SweepConfig, PrintStream)}, with {@code seeds} runs per cell (0: the file's {@code seeds}, else 1). */
    public static Result run(SweepConfig sc, int seeds, PrintStream console) {
        return run(sc, seeds, null, console);
    }

    /**
     * As {@link #run(SweepConfig, int, PrintStream)}, only the runs of one shard when {@code shard} is set
     * (an array job's task, a Spark task). A shard writes its runs' folders and no report: build the report
     * with {@link #report} once every shard has finished. Shards of one sweep may run at once on one output
     * folder (each holds its own lock); its results are the same as the unsharded sweep's.
     */
    public static Result run(SweepConfig sc, int seeds, Shard shard, PrintStream console) {
        return SweepFileRun.run(sc, seeds, shard, console);
    }

    /**
     * Builds the report (results.csv, results_summary.csv, results.md, plots, report.html) from the runs
     * finished so far, without training: for array jobs and Spark, once the shards are done, or to look
     * at a sweep under way. The report and the returned status name the runs not finished yet; loads no
     * model (the data is read again, from the tokenized cache).
     *
     * @throws Align4jException when no run has finished yet
     */
    public static Status report(SweepConfig sc, int seeds, PrintStream console) {
        return SweepFileRun.report(sc, seeds, console);
    }

    /** Best β of each row by the primary metric's mean, called only where every seed agrees. */
    static String summary(Result r) {
        return Report.bestBetas(r);
    }

    /** Builds a sweep. */
    public static final class Builder {
        private TrainConfig base = TrainConfig.defaults();
        private Map<String, List<?>> grid = new LinkedHashMap<>();
        private Path model;
        private List<TokenizedPair> trainPairs;
        private List<TokenizedPair> evalPairs;
        private Judge judge;
        private List<String> judgePrompts;
        private SamplingOptions sampling;
        private TextTokenizer tokenizer;
        private Path output;
        private PrintStream console;
        private Listener listener;
        private int seeds = 1;
        private SweepEval mtBench;

        /** Trainer settings shared by every cell. */
        public Builder base(TrainConfig c) { this.base = c; return this; }

        /** Trainer field → values; cells are the Cartesian product in the map's order. */
        public Builder grid(Map<String, ? extends List<?>> g) {
            this.grid = new LinkedHashMap<>(g);
            return this;
        }

        /** The starting model's folder: every cell trains a copy; a frozen copy is the reference. */
        public Builder model(Path m) { this.model = m; return this; }

        public Builder trainPairs(List<TokenizedPair> p) { this.trainPairs = p; return this; }

        /** Held-out pairs for preference accuracy (never trained on). */
        public Builder evalPairs(List<TokenizedPair> p) { this.evalPairs = p; return this; }

        /** Judges each cell's samples on held-out prompts against the starting model's samples. */
        public Builder judge(Judge j, List<String> prompts, SamplingOptions o, TextTokenizer tok) {
            this.judge = j;
            this.judgePrompts = prompts;
            this.sampling = o;
            this.tokenizer = tok;
            return this;
        }

        public Builder output(Path o) { this.output = o; return this; }

        public Builder console(PrintStream c) { this.console = c; return this; }

        public Builder listener(Listener l) { this.listener = l; return this; }

        /** Runs per cell, with seeds base, base + 1, ... (training order, KTO's split, judge sampling); default 1. */
        public Builder seeds(int n) { this.seeds = n; return this; }

        /** Scores every run's final model with MT-Bench; its score becomes the primary metric. */
        public Builder mtBench(SweepEval e) { this.mtBench = e; return this; }

        public Sweep build() {
            return new Sweep(this);
        }
    }
}
