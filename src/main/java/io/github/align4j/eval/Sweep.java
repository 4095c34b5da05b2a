package io.github.align4j.eval;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.internal.Devices;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Losses;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.PreferenceRun;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

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
 */
public final class Sweep {
    static {
        Offline.ensure();
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** Most runs per cell ({@code seeds:}, {@code --seeds}): a handful tells a finding from one trajectory. */
    public static final int MAX_SEEDS = 1000;
    /** Most cells in a grid: each is a training run, and the plan lists them all. */
    static final int MAX_CELLS = 10_000;
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
            StringBuilder sb = new StringBuilder(algorithm());
            values.forEach((k, v) -> {
                if (!k.equals("beta") && !k.equals("loss_type") && !k.equals("loss_weights")) {
                    sb.append(' ').append(k).append('=').append(format(v));
                }
            });
            return sb.toString();
        }

        /** A folder name: {@code dpo-beta0.1}, with other fields appended as {@code -key=value}. */
        public String id() {
            StringBuilder sb = new StringBuilder(algorithm().replaceAll("[^A-Za-z0-9_.=]+", "_"));
            if (values.containsKey("beta")) {
                sb.append("-beta").append(format(values.get("beta")));
            }
            values.forEach((k, v) -> {
                if (!k.equals("beta") && !k.equals("loss_type") && !k.equals("loss_weights")) {
                    sb.append('-').append(k).append('=').append(format(v).replaceAll("[^A-Za-z0-9_.+-]+", "_"));
                }
            });
            return sb.toString();
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
        public static Shard parse(String spec, Integer count, java.util.function.Function<String, String> env) {
            String s = spec == null ? "" : spec.trim();
            if (s.equalsIgnoreCase("env")) {
                String name = null;
                String value = null;
                for (String v : INDEX_VARIABLES) {
                    value = env.apply(v);
                    if (value != null && !value.isBlank()) {
                        name = v;
                        break;
                    }
                }
                if (name == null) {
                    throw new Align4jException("--shard env: neither " + String.join(" nor ", INDEX_VARIABLES) + " is set; "
                            + "run it as a Kubernetes Indexed Job or a Slurm array task, or give --shard I/N");
                }
                if (count == null) {
                    throw new Align4jException("--shard env: how many shards? Give --shards N or 'shards: N' in the sweep file "
                            + "(the array's size)");
                }
                int i;
                try {
                    i = Integer.parseInt(value.trim());
                } catch (NumberFormatException e) {
                    throw new Align4jException("--shard env: " + name + " is '" + io.github.align4j.internal.Texts.printable(
                            value.length() > 40 ? value.substring(0, 40) + "…" : value) + "', not a whole number");
                }
                if (i < 0 || i >= count) {
                    throw new Align4jException("--shard env: " + name + " is " + i + " but there are " + count + " shards (0 to "
                            + (count - 1) + "); make the array's indices 0.." + (count - 1) + " (Slurm: --array=0-"
                            + (count - 1) + ")");
                }
                return new Shard(i, count);
            }
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d{1,9})/(\\d{1,9})").matcher(s);
            if (!m.matches()) {
                throw new Align4jException("--shard '" + io.github.align4j.internal.Texts.printable(s.length() > 40
                        ? s.substring(0, 40) + "…" : s) + "': expected I/N (shard I of N, I from 0 to N−1, e.g. 0/8) or env");
            }
            Shard sh = new Shard(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
            if (count != null && count != sh.count()) {
                throw new Align4jException("--shard " + sh + " splits the sweep into " + sh.count() + " shards but --shards "
                        + "(or the file's shards:) says " + count + "; give one count");
            }
            return sh;
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

    private final TrainConfig base;
    private final List<Cell> cells;
    private final Path model;
    private final List<TokenizedPair> trainPairs;
    private final List<TokenizedPair> evalPairs;
    private final Judge judge;
    private final List<String> judgePrompts;
    private final SamplingOptions sampling;
    private final TextTokenizer tokenizer;
    private final Path output;
    private final PrintStream console;
    private Listener listener;
    private final Device device;
    private final int seeds;
    private final SweepEval mtBench;

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
        this.cells = expand(b.grid, base);
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
     * Expands a grid (field → values) into cells, checking every value against its trainer field.
     */
    static List<Cell> expand(Map<String, ? extends List<?>> grid, TrainConfig base) {
        List<Map<String, Object>> acc = new ArrayList<>();
        acc.add(new LinkedHashMap<>());
        if (grid != null) {
            long n = 1; // counted before the cells are built: a grid of 20 fields × 10 values is 10^20 cells
            for (List<?> vs : grid.values()) {
                n = Math.min((long) MAX_CELLS + 1, n * Math.max(1, vs == null ? 1 : vs.size()));
            }
            if (n > MAX_CELLS) {
                throw new Align4jException("grid: more than " + String.format(Locale.ROOT, "%,d", MAX_CELLS) + " cells ("
                        + String.join(" × ", grid.entrySet().stream().map(e -> e.getKey() + " " + (e.getValue() == null ? 0
                                : e.getValue().size())).toList()) + "); each cell is a training run: scan fewer values");
            }
            for (Map.Entry<String, ? extends List<?>> e : grid.entrySet()) {
                if (e.getValue() == null || e.getValue().isEmpty()) {
                    throw new Align4jException("grid: '" + e.getKey() + "' has no values; give a list, e.g. "
                            + e.getKey() + ": [" + base.get(checkKey(e.getKey())) + "]");
                }
                List<Map<String, Object>> next = new ArrayList<>();
                for (Map<String, Object> partial : acc) {
                    for (Object v : e.getValue()) {
                        TrainConfig checked = base.with(e.getKey(), v, "grid");
                        Map<String, Object> m = new LinkedHashMap<>(partial);
                        m.put(e.getKey(), checked.get(e.getKey()));
                        next.add(m);
                    }
                }
                acc = next;
            }
        }
        List<Cell> out = new ArrayList<>();
        java.util.Set<String> ids = new java.util.HashSet<>();
        for (Map<String, Object> m : acc) {
            Cell c = new Cell(m);
            checkName(c);
            if (!ids.add(c.id())) {
                throw new Align4jException("grid: two cells are both '" + c.id() + "'; remove the repeated value");
            }
            out.add(c);
        }
        return out;
    }

    /** Longest cell name: the id names a folder, the row heads a table row, a CSV row and a plot's series. */
    static final int MAX_NAME = 200;

    /** Refuses a cell whose name is too long for a folder or a table, or holds control characters. */
    private static void checkName(Cell c) {
        String id = c.id();
        String row = c.row();
        if (id.length() > MAX_NAME || row.length() > MAX_NAME) {
            throw new Align4jException(String.format(Locale.ROOT, "grid: a cell's name has %,d characters (its values "
                    + "name its folder and its row in the tables, at most %d); scan shorter values, e.g. paths in a "
                    + "shorter folder", Math.max(id.length(), row.length()), MAX_NAME));
        }
        if (row.indexOf('\n') >= 0 || row.indexOf('\t') >= 0 || !io.github.align4j.internal.Texts.printable(row).equals(row)) {
            throw new Align4jException("grid: a value of cell " + id + " holds control characters; remove them");
        }
    }

    private static String checkKey(String key) {
        if (!TrainConfig.keys().containsKey(key)) {
            throw new Align4jException("grid: unknown trainer field '" + key + "'. Known fields: "
                    + String.join(", ", TrainConfig.keys().keySet()));
        }
        return key;
    }

    /**
     * The trainer settings of one cell. Loss options that the cell's loss does not read (KTO's
     * weights in a DPO cell, {@code kl_detach} in an IPO cell) are left out, so the cell records
     * and trains exactly what its loss uses; a value the loss reads but rejects is an error.
     */
    public TrainConfig config(Cell cell) {
        return forItsLoss(base.with(cell.values(), "grid " + cell.id()).validated());
    }

    /** The trainer settings of one cell's run with this seed. */
    TrainConfig config(Cell cell, long seed) {
        return seed == base.optimization().seed() ? config(cell) : config(cell).with("seed", Math.toIntExact(seed), "seeds");
    }

    /** The loss of one cell (see {@link #config}). */
    static PreferenceLoss loss(TrainConfig c) {
        return forItsLoss(c).loss();
    }

    /** c without the loss options none of its losses reads. */
    static TrainConfig forItsLoss(TrainConfig c) {
        List<String> specs = c.lossSpec().weights().isEmpty() ? List.of(c.lossSpec().type()) : List.copyOf(c.lossSpec().weights().keySet());
        TrainConfig defaults = TrainConfig.defaults();
        for (String k : c.lossOptions().keySet()) {
            if (specs.stream().noneMatch(spec -> Losses.reads(spec, k))) {
                c = c.with(k, defaults.get(k), "sweep");
            }
        }
        Map<String, Object> kwargs = new LinkedHashMap<>();
        c.lossSpec().kwargs().forEach((k, v) -> {
            if (specs.stream().anyMatch(spec -> Losses.reads(spec, k))) {
                kwargs.put(k, v);
            }
        });
        return kwargs.size() == c.lossSpec().kwargs().size() ? c : c.with("loss_kwargs", kwargs, "sweep");
    }

    /** Optimizer steps of one cell. */
    long steps(Cell cell) {
        TrainConfig c = config(cell);
        if (c.optimization().maxSteps() > 0) {
            return c.optimization().maxSteps();
        }
        boolean unpaired = loss(c).dataKind() == PreferenceLoss.DataKind.UNPAIRED;
        return PreferenceTrainer.totalSteps(unpaired ? 2L * trainPairs.size() : trainPairs.size(), c);
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
    private Result runLocked(Shard shard) {
        List<CellResult> results = new ArrayList<>();
        CausalLM reference = null;
        Map<Integer, JudgeRun> judgeRuns = new LinkedHashMap<>(); // per seed: the reference's samples of that seed
        int total = cells.size() * seeds;
        try {
            for (int ci = 0; ci < cells.size(); ci++) {
                Cell cell = cells.get(ci);
                long steps = steps(cell);
                for (int k = 0; k < seeds; k++) {
                    int i = ci * seeds + k;
                    if (shard != null && !shard.owns(i)) {
                        continue;
                    }
                    long seed = seed(k);
                    if (listener != null) {
                        listener.cellStarted(i, total, cell, steps);
                    }
                    CellResult r = readResult(cell, seed);
                    if (r == null) {
                        if (reference == null) {
                            reference = CausalLM.load(model, new CausalLM.Options(device, false, DataType.FLOAT32));
                        }
                        JudgeRun judgeRun = null;
                        if (judge != null) {
                            final CausalLM ref = reference;
                            final int offset = k;
                            judgeRun = judgeRuns.computeIfAbsent(k, x -> new JudgeRun(ref, tokenizer, judgePrompts, judge,
                                    sampling.withSeed(sampling.seed() + offset)));
                        }
                        r = runCell(cell, seed, reference, judgeRun, steps);
                        writeResult(r);
                    } else if (mtBench != null && !Double.isFinite(r.metric("mt_bench"))) {
                        r = scoreOnly(r); // trained before the eval entry was added: score the saved model
                        writeResult(r);
                    }
                    results.add(r);
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
        return new Result(List.copyOf(results), primaryMetric(), output);
    }

    /** The finished runs (result.json present and written with these settings) and the missing ones, in grid order. */
    Status status() {
        List<CellResult> done = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (Cell cell : cells) {
            for (int k = 0; k < seeds; k++) {
                CellResult r = readResult(cell, seed(k));
                if (r != null && (mtBench == null || Double.isFinite(r.metric("mt_bench")))) {
                    done.add(r);
                } else {
                    missing.add(seeds == 1 ? cell.id() : cell.id() + " seed " + seed(k));
                }
            }
        }
        return new Status(new Result(List.copyOf(done), primaryMetric(), output), List.copyOf(missing), runs());
    }

    private CellResult runCell(Cell cell, long seed, CausalLM reference, JudgeRun judgeRun, long steps) {
        long start = System.nanoTime();
        TrainConfig c = config(cell, seed);
        PreferenceLoss loss = c.loss(); // the run builds the same from c
        Path dir = cellDir(cell, seed);
        Map<String, Double> m = new LinkedHashMap<>();
        // the cell is a run of the library's, as align4j train runs it: LoRA, torch_dtype and the rest of its keys apply
        PreferenceRun.Builder b = PreferenceRun.builder().config(c.toBuilder().modelPath(model.toString()).outputDir(dir.toString()).build())
                // a run begun with these same settings (a killed process, a retried Spark task, a preempted pod)
                // continues from its newest checkpoint; any other run in the folder is trained again from the start
                .resume(begun(cell, seed)).overwrite(!begun(cell, seed))
                .cacheDir(output.resolve("cache")).console(null)
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
            b.trainUnpaired(unpaired(trainPairs, c.optimization().seed()));
        } else {
            b.trainPairs(trainPairs);
        }
        if (evalPairs != null && !evalPairs.isEmpty()) {
            b.evalPairs(evalPairs);
        }
        boolean resumed = begun(cell, seed);
        if (!resumed) {
            writeJson(dir.resolve(BEGUN), JSON.valueToTree(configMap(cell, seed)), "the cell's settings");
        } else if (console != null) {
            console.println("  " + cell.id() + (seeds == 1 ? "" : " seed " + seed) + ": resuming its unfinished run from "
                    + "the newest checkpoint in " + dir);
        }
        PreferenceTrainer.TrainResult tr = b.build().train();
        Path finalModel = tr.finalCheckpoint();
        Map<String, Object> ev = tr.lastEval() == null ? Map.of() : tr.lastEval();
        m.put("pref_accuracy", number(ev.get("eval_rewards/accuracies")));
        m.put("pref_margin", number(ev.get("eval_rewards/margins")));
        m.put("eval_loss", number(ev.get("eval_loss")));
        m.put("train_loss", number(tr.lastTrain() == null ? null : tr.lastTrain().get("loss")));
        m.put("steps", (double) tr.steps());
        if (mtBench != null) {
            putMtBench(m, finalModel, dir, seed);
        }
        return new CellResult(cell, m, (System.nanoTime() - start) / 1e9, false, seed);
    }

    private void putMtBench(Map<String, Double> m, Path finalModel, Path dir, long seed) {
        if (finalModel == null || !Files.isDirectory(finalModel)) {
            throw new Align4jException(dir + ": no final checkpoint to score with MT-Bench; delete the folder to train "
                    + "the cell again");
        }
        // a LoRA cell's final/ holds its adapter: MT-Bench answers with the sweep's base model and that adapter
        boolean adapter = Files.isRegularFile(finalModel.resolve("adapter_config.json"));
        MtBench.Result r = mtBench.score(adapter ? model : finalModel, adapter ? finalModel : null, dir.resolve("mt_bench"),
                output.resolve("cache").resolve("mt_bench_judge.jsonl"), device, seed,
                console == null ? null : console::println);
        m.put("mt_bench", r.score());
        m.put("mt_bench_turn1", r.scores().turn1());
        m.put("mt_bench_turn2", r.scores().turn2());
    }

    private CellResult scoreOnly(CellResult r) {
        long start = System.nanoTime();
        Path dir = cellDir(r.cell(), r.seed());
        Map<String, Double> m = new LinkedHashMap<>(r.metrics());
        putMtBench(m, dir.resolve("final"), dir, r.seed());
        return new CellResult(r.cell(), m, r.seconds() + (System.nanoTime() - start) / 1e9, false, r.seed());
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

    // ---- resumption ------------------------------------------------------------------------------

    /** Written into a run's folder before it trains: the settings it began with (see {@link #begun}). */
    static final String BEGUN = "sweep_run.json";

    /** Whether the run's folder holds a run begun with exactly these settings (so its checkpoints continue it). */
    boolean begun(Cell cell, long seed) {
        Path f = cellDir(cell, seed).resolve(BEGUN);
        try {
            return Files.isRegularFile(f, java.nio.file.LinkOption.NOFOLLOW_LINKS) && Files.size(f) < (1 << 20)
                    && JSON.valueToTree(configMap(cell, seed)).equals(JSON.readTree(f.toFile()));
        } catch (IOException | RuntimeException e) {
            return false; // damaged: train again from the start
        }
    }

    private Path resultFile(Cell cell, long seed) {
        return cellDir(cell, seed).resolve("result.json");
    }

    /** A finished run's result, or null when the run has not finished (or finished with other settings). */
    CellResult readResult(Cell cell, long seed) {
        Path f = resultFile(cell, seed);
        if (!Files.isRegularFile(f)) {
            return null;
        }
        try {
            JsonNode n = JSON.readTree(f.toFile());
            JsonNode saved = n.get("config");
            if (saved instanceof ObjectNode o) {
                o.remove("device"); // results written before the device was left out
            }
            if (!JSON.valueToTree(configMap(cell, seed)).equals(saved)) {
                return null; // the cell's settings changed since: train it again
            }
            Map<String, Double> m = new LinkedHashMap<>();
            n.get("metrics").fields().forEachRemaining(e -> m.put(e.getKey(),
                    e.getValue().isNumber() ? e.getValue().asDouble() : Double.NaN));
            if (mtBench != null && !mtBench.toString().equals(n.path("mt_bench").asText())) {
                m.remove("mt_bench"); // scored with other MT-Bench settings (or none): score again
            }
            return new CellResult(cell, m, n.path("seconds").asDouble(), true, seed);
        } catch (IOException | RuntimeException e) {
            return null; // damaged: train again
        }
    }

    /** What a run trains (its result and checkpoints are reused under these): not where it trains (device). */
    private Map<String, Object> configMap(Cell cell, long seed) {
        Map<String, Object> m = new LinkedHashMap<>(config(cell, seed).asMap());
        m.remove("device"); // a Spark task or an array job trains on the GPU it was given; the report is built elsewhere
        m.put("model", model.toAbsolutePath().normalize().toString());
        m.put("train_pairs", trainPairs.size());
        m.put("eval_pairs", evalPairs == null ? 0 : evalPairs.size());
        m.put("judge_prompts", judge == null ? 0 : judgePrompts.size());
        if (judge != null) {
            m.put("sampling", sampling.toString());
        }
        return m;
    }

    private void writeResult(CellResult r) {
        ObjectNode n = JSON.createObjectNode();
        n.put("id", r.cell().id());
        n.put("algorithm", r.cell().algorithm());
        n.put("beta", r.cell().beta());
        n.set("cell", JSON.valueToTree(r.cell().values()));
        n.put("seed", r.seed());
        n.set("config", JSON.valueToTree(configMap(r.cell(), r.seed())));
        if (mtBench != null) {
            n.put("mt_bench", mtBench.toString());
        }
        ObjectNode m = n.putObject("metrics");
        r.metrics().forEach((k, v) -> {
            if (Double.isFinite(v)) {
                m.put(k, v);
            } else {
                m.putNull(k);
            }
        });
        n.put("seconds", r.seconds());
        writeJson(resultFile(r.cell(), r.seed()), n, "the cell's result");
    }

    /** Writes a JSON file through a temporary file and an atomic move. */
    private static void writeJson(Path f, JsonNode n, String what) {
        try {
            Files.createDirectories(f.getParent());
            Path tmp = Files.createTempFile(f.getParent(), ".result", ".tmp");
            try {
                Files.write(tmp, io.github.align4j.internal.Utf8Out.bytes(f, JSON.writeValueAsString(n)));
                Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new Align4jException(f + ": cannot write " + what + ": " + e.getMessage(), e);
        }
    }

    static String format(Object v) {
        if (v instanceof Double d) {
            if (d == Math.rint(d) && Math.abs(d) < 1e6) {
                return String.valueOf(d.longValue());
            }
            String s = String.format(Locale.ROOT, "%.6g", d).replaceAll("(\\.\\d*?)0+(e|$)", "$1$2").replace(".e", "e");
            return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
        }
        return String.valueOf(v);
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
        try (SweepLock lock = shard == null ? SweepLock.acquire(sc.outputDir()) : SweepLock.acquire(sc.outputDir(), shard)) {
            return open(sc, seeds, console, sweep -> {
                sweep.listener = new ConsoleListener(console, sweep, shard);
                Result r = sweep.runLocked(shard);
                if (shard == null) {
                    writeReport(sc, r, List.of(), console);
                } else if (console != null) {
                    Status st = sweep.status();
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

    /**
     * Builds the report (results.csv, results_summary.csv, results.md, plots, report.html) from the runs
     * finished so far, without training: for array jobs and Spark, once the shards are done, or to look
     * at a sweep under way. The report and the returned status name the runs not finished yet; loads no
     * model (the data is read again, from the tokenized cache).
     *
     * @throws Align4jException when no run has finished yet
     */
    public static Status report(SweepConfig sc, int seeds, PrintStream console) {
        try (SweepLock lock = SweepLock.acquire(sc.outputDir())) {
            return open(sc, seeds, console, sweep -> {
                Status st = sweep.status();
                if (st.finished().cells().isEmpty()) {
                    throw new Align4jException(sc.outputDir() + ": no run of this sweep has finished yet (0 of " + st.runs()
                            + "); run the sweep (or its shards: --shard I/N) first");
                }
                writeReport(sc, st.finished(), st.missing(), console);
                return st;
            });
        }
    }

    private static void writeReport(SweepConfig sc, Result r, List<String> missing, PrintStream console) {
        String headline = summary(r);
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
    private static <T> T open(SweepConfig sc, int seeds, PrintStream console, java.util.function.Function<Sweep, T> body) {
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
        io.github.align4j.model.ModelConfig mc = io.github.align4j.model.ModelConfig.load(model);
        try (TextTokenizer tok = TextTokenizer.load(model, mc.eosTokenId())) { // the caller holds the lock: before the data is tokenized into its cache
            io.github.align4j.data.DataOptions opts = io.github.align4j.data.DataOptions.defaults()
                    .withMaxLength(base.data().maxLength()).withMaxPromptLength(base.data().maxPromptLength())
                    .withApplyChatTemplate(base.data().applyChatTemplate())
                    .withChatTemplateFile(base.data().chatTemplate().isBlank() ? null : Path.of(base.data().chatTemplate()))
                    .withCacheDir(sc.outputDir().resolve("cache").resolve("tokenized"));
            long t = System.nanoTime();
            io.github.align4j.data.PreferenceData train = io.github.align4j.data.PreferenceData.load(base.data().trainFile(), opts, tok);
            io.github.align4j.data.PreferenceData eval = null;
            if (!base.data().evalFile().isBlank()) {
                eval = io.github.align4j.data.PreferenceData.load(base.data().evalFile(), opts, tok);
            } else if (base.data().evalSplit() > 0) {
                io.github.align4j.data.PreferenceData[] parts = train.split(base.data().evalSplit(), base.optimization().seed());
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
            Builder b = builder().base(base).grid(sc.grid()).model(model).trainPairs(train.pairs()).evalPairs(evalPairs)
                    .output(sc.outputDir()).console(console).seeds(seeds > 0 ? seeds : sc.seeds()).mtBench(sc.mtBench());
            if (sc.judge() != null) {
                java.util.LinkedHashSet<String> prompts = new java.util.LinkedHashSet<>();
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

    /** Best β of each row by the primary metric's mean, called only where every seed agrees. */
    static String summary(Result r) {
        return Report.bestBetas(r);
    }

    /** One line per finished cell and a step progress bar. */
    static final class ConsoleListener implements Listener {
        private final PrintStream out;
        private final Progress bar;
        private final String primary;
        private int runsLeft;

        ConsoleListener(PrintStream out, Sweep sweep, Shard shard) {
            this.out = out;
            long total = 0;
            for (int r = 0; r < sweep.runs(); r++) {
                if (shard == null || shard.owns(r)) {
                    total += sweep.steps(sweep.cells().get(r / sweep.seeds()));
                    runsLeft++;
                }
            }
            this.bar = new Progress(out, total);
            this.primary = sweep.primaryMetric();
        }

        @Override
        public void cellStarted(int index, int total, Cell cell, long steps) {
            bar.label(String.format(Locale.ROOT, "run %d/%d %s", index + 1, total, cell.id()));
        }

        @Override
        public void step(Cell cell, long step, long steps) {
            bar.advance(1);
        }

        @Override
        public void cellFinished(int index, int total, CellResult r) {
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
