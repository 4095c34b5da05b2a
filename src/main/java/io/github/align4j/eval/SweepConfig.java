package io.github.align4j.eval;

import io.github.align4j.internal.BoundedYaml;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.github.align4j.Align4jException;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.train.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * An {@code align4j sweep} configuration: a YAML file with the trainer fields every cell shares
 * (alignment-handbook names: {@code model_name_or_path}, {@code train_file}, {@code learning_rate},
 * ...; see {@link TrainConfig#keys()}), {@code output_dir}, and a {@code grid} of trainer fields to
 * scan:
 *
 * <pre>
 * model_name_or_path: models/zephyr-7b-sft-full
 * train_file: data/ultrafeedback_binarized/train_prefs.jsonl
 * learning_rate: 5.0e-7
 * output_dir: runs/zephyr-scan
 * grid:
 *   loss_type: [dpo, ipo, kto_pair]
 *   beta: [0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
 * </pre>
 *
 * <p>Sweep-only keys: {@code train_rows} (the training set's expected size, for the plan when the
 * data is not on this machine), {@code judge} (a name from {@link Judges}: each cell is then
 * judged on the held-out prompts against the starting model), {@code judge_samples} (completions
 * per prompt, default 4), {@code max_new_tokens} (default 128), {@code temperature} (default 1),
 * {@code seeds} (runs per cell with seeds {@code seed}, {@code seed + 1}, ...; default 1) and
 * {@code eval: {mt_bench: {...}}} (each run's final model scored with MT-Bench, the plotted
 * metric; see {@link SweepEval}).
 * Handbook keys that mean nothing here ({@code bf16}, {@code report_to}, ...) are
 * accepted and listed as ignored.
 *
 * @param file the YAML file
 * @param base the trainer settings every cell shares
 * @param grid trainer field → values, in file order
 * @param ignored handbook keys accepted without effect, with the reason
 * @param trainRows the expected number of training rows (0: unknown)
 * @param judge a judge name, or null
 * @param judgeSamples completions per held-out prompt for the judge
 * @param maxNewTokens the judge's sampling budget
 * @param temperature the judge's sampling temperature
 * @param text the file's text, verbatim (for the report)
 */
public record SweepConfig(Path file, TrainConfig base, Map<String, List<Object>> grid, List<String> ignored,
        long trainRows, String judge, int judgeSamples, int maxNewTokens, double temperature, String text) {

    /** Keys of the sweep file that are not trainer fields. */
    static final List<String> SWEEP_KEYS = List.of("grid", "train_rows", "judge", "judge_samples", "max_new_tokens",
            "temperature", "seeds", "eval", "shards");

    static {
        ReviewJudge.register(); // the built-in judges can be named in a sweep file
    }

    public SweepConfig {
        grid = Collections.unmodifiableMap(new LinkedHashMap<>(grid));
        ignored = List.copyOf(ignored);
    }

    /** Reads and checks a sweep file (keys, values, grid values, loss names); loads no model and no data. */
    public static SweepConfig load(Path file) {
        // bounded before SnakeYAML sees it: size, line length, one document, no aliases, nesting
        BoundedYaml.Document doc = BoundedYaml.read(file, "sweep config");
        String text = doc.text();
        JsonNode root = doc.root();
        if (root == null || !root.isObject()) {
            throw new Align4jException(file + ": a sweep config is a YAML mapping of trainer fields plus 'grid:'");
        }
        // TrainConfig reads the trainer fields (and knows which handbook keys to ignore); the sweep's own keys are ours.
        List<String> ignored = new ArrayList<>();
        TrainConfig base = TrainConfig.fromYaml(file, TrainConfig.defaults(), ignored, SWEEP_KEYS);
        JsonNode g = root.get("grid");
        if (g == null || !g.isObject() || g.size() == 0) {
            throw new Align4jException(file + ": no 'grid:' mapping. Add e.g.\ngrid:\n  loss_type: [dpo, ipo, kto_pair]\n"
                    + "  beta: [0.01, 0.1, 0.5]");
        }
        Map<String, List<Object>> grid = new LinkedHashMap<>();
        var it = g.fields();
        while (it.hasNext()) {
            var e = it.next();
            String key = e.getKey();
            if (!TrainConfig.keys().containsKey(key)) {
                throw new Align4jException(file + ": grid: unknown trainer field '" + key + "'. Known fields: "
                        + String.join(", ", TrainConfig.keys().keySet()));
            }
            JsonNode vs = e.getValue();
            List<JsonNode> items = new ArrayList<>();
            if (vs.isArray()) {
                vs.forEach(items::add);
            } else {
                items.add(vs);
            }
            if (items.isEmpty()) {
                throw new Align4jException(file + ": grid: '" + key + "' has no values; give a list such as [a, b]");
            }
            List<Object> values = new ArrayList<>();
            for (JsonNode v : items) {
                Object value = v.isTextual() ? v.asText() : v.isBoolean() ? (Object) v.asBoolean()
                        : v.isIntegralNumber() ? (Object) v.asLong() : v.isNumber() ? (Object) v.asDouble() : v.toString();
                values.add(base.with(key, value, file + ": grid").get(key));
            }
            grid.put(key, values);
        }
        for (Object loss : grid.getOrDefault("loss_type", List.of(base.lossSpec().type()))) {
            try {
                Losses.create(loss.toString(), Map.of());
            } catch (Align4jException e) {
                throw new Align4jException(file + ": grid: loss_type '" + loss + "': " + e.getMessage(), e);
            }
        }
        try {
            SweepGrid.expand(grid, base); // the number of cells and their names, before any cell is checked
        } catch (Align4jException e) {
            throw new Align4jException(file + ": " + e.getMessage(), e);
        }
        checkLossOptions(file, grid, base);
        if (base.output().dir().isBlank()) {
            throw new Align4jException(file + ": no output_dir. Add e.g. 'output_dir: runs/my-scan' (or pass --output).");
        }
        long rows = io.github.align4j.internal.JsonInts.of(root, "train_rows", file + ": train_rows", 0, 0, Integer.MAX_VALUE);
        String judge = root.hasNonNull("judge") ? root.get("judge").asText() : null;
        if (judge != null) {
            Judges.byName(judge); // fails early with the registered names
        }
        int samples = io.github.align4j.internal.JsonInts.of(root, "judge_samples", file + ": judge_samples", 4, 1, 1_000_000);
        int maxNew = io.github.align4j.internal.JsonInts.of(root, "max_new_tokens", file + ": max_new_tokens", 128, 1, Integer.MAX_VALUE);
        double temp = root.path("temperature").asDouble(1.0);
        new SamplingOptions(maxNew, temp, 1.0, 0, 0, Math.max(1, samples)); // checks the values
        SweepConfig c = new SweepConfig(file, base, grid, ignored, rows, judge, samples, maxNew, temp, text);
        c.seeds(); // checks seeds, shards and eval
        c.shards();
        c.mtBench();
        SweepGrid.expand(grid, base); // every cell's values and the ids are valid
        return c;
    }

    /**
     * Loss options every cell shares must be read by some loss of the grid, and each cell's loss
     * must accept the options it reads (label_smoothing 0.7 with dpo is an error, not ε = 0).
     */
    private static void checkLossOptions(Path file, Map<String, List<Object>> grid, TrainConfig base) {
        List<Object> losses = grid.getOrDefault("loss_type", List.of(base.lossSpec().type()));
        for (String k : base.allLossOptions().keySet()) {
            boolean read = losses.stream().anyMatch(l -> Losses.reads(l.toString(), k))
                    || grid.containsKey("loss_weights") || !base.lossSpec().weights().isEmpty();
            if (!read) {
                throw new Align4jException(file + ": loss option " + k + " is read by no loss of the sweep " + losses
                        + "; remove it or add a loss that uses it");
            }
        }
        for (Sweep.Cell cell : SweepGrid.expand(grid, base)) { // every cell's loss accepts the options it reads (label_smoothing 0.7 with dpo: no)
            try {
                SweepGrid.loss(base.with(cell.values(), "grid " + cell.id()).validated());
            } catch (Align4jException e) {
                throw new Align4jException(file + ": cell " + cell.id() + ": " + e.getMessage(), e);
            }
        }
    }

    /** A copy whose cells also get these loss options ({@code --loss-option k=v}), added to loss_kwargs. */
    public SweepConfig withLossOptions(Map<String, ?> options) {
        Map<String, Object> m = new LinkedHashMap<>(base.lossSpec().kwargs());
        m.putAll(options);
        TrainConfig b = base.with("loss_kwargs", m, "--loss-option");
        checkLossOptions(file, grid, b);
        return new SweepConfig(file, b, grid, ignored, trainRows, judge, judgeSamples, maxNewTokens, temperature, text);
    }

    /** A copy writing to another output folder. */
    public SweepConfig withOutputDir(String dir) {
        return new SweepConfig(file, base.with("output_dir", dir, "--output"), grid, ignored, trainRows, judge, judgeSamples,
                maxNewTokens, temperature, text);
    }

    /**
     * A copy training on another device ({@code cpu}, {@code gpu:N}, ...): where a Spark task or an array job's
     * pod trains; a run's results are reused whatever device trained them.
     */
    public SweepConfig withDevice(String device) {
        return new SweepConfig(file, base.with("device", device, "device"), grid, ignored, trainRows, judge, judgeSamples,
                maxNewTokens, temperature, text);
    }

    /** Runs per cell (the file's {@code seeds}, default 1). */
    public int seeds() {
        JsonNode n = root().get("seeds");
        if (n == null || n.isNull()) {
            return 1;
        }
        int seeds = io.github.align4j.internal.JsonInts.of(n, file + ": seeds (runs per cell)", 1, Integer.MAX_VALUE);
        if (seeds > Sweep.MAX_SEEDS) {
            throw new Align4jException(file + ": seeds: at most " + Sweep.MAX_SEEDS + " runs per cell, got " + seeds
                    + "; a handful (3 to 5) tells a finding from one trajectory");
        }
        return seeds;
    }

    /** The file's {@code shards: N} (the array job's size, for {@code --shard env}), or null when not set. */
    public Integer shards() {
        JsonNode n = root().get("shards");
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() < 1) {
            throw new Align4jException(file + ": shards: expected a whole number ≥ 1 (the array job's size), got " + n);
        }
        return n.asInt();
    }

    /** The {@code eval: {mt_bench: ...}} entry, or null. */
    public SweepEval mtBench() {
        return SweepEval.parse(file, root().get("eval"));
    }

    private JsonNode root() {
        JsonNode n = BoundedYaml.parse(file, text, "sweep config").root();
        return n == null ? new ObjectMapper().createObjectNode() : n;
    }

    public Path outputDir() {
        return Path.of(base.output().dir());
    }

    /** The cells of the grid, in order. */
    public List<Sweep.Cell> cells() {
        return SweepGrid.expand(grid, base);
    }

    /**
     * The dry-run plan: cells, resolved files (a missing model folder or data file is reported as
     * expected on a GPU machine, not as an error), steps per cell and in total, and which cells are
     * already finished in the output folder.
     */
    public String plan() {
        return plan(-1);
    }

    /**
     * {@link #plan()} with each cell's memory plan (the trainer's planner, sequences of max_length) against one
     * device: a GPU of {@code gpuBytes} (e.g. 80 GB; {@code sweep --gpu-memory}), or, when that is below 0, the
     * device the file names as seen here. A cell that cannot fit is said so plainly: a run trains on one device.
     * Needs the model's config.json only (no weights).
     */
    public String plan(long gpuBytes) {
        StringBuilder sb = new StringBuilder();
        List<Sweep.Cell> cells = cells();
        sb.append("sweep ").append(file).append(": ").append(cells.size()).append(" cells (");
        List<String> dims = new ArrayList<>();
        grid.forEach((k, v) -> dims.add(k + " " + v.size()));
        sb.append(String.join(" × ", dims)).append(")\n");
        Path model = Path.of(base.model().path());
        sb.append("  model      ").append(base.model().path().isBlank() ? "(model_name_or_path not set)" : describeModel(model))
                .append('\n');
        if (!base.reference().path().isBlank()) {
            sb.append("  reference  ").append(describeModel(Path.of(base.reference().path()))).append('\n');
        } else {
            sb.append("  reference  a frozen copy of the model; its log-probs are computed once for the whole grid\n");
        }
        sb.append("  train      ").append(describeData(base.data().trainFile())).append('\n');
        sb.append("  eval       ").append(!base.data().evalFile().isBlank() ? describeData(base.data().evalFile())
                : base.data().evalSplit() > 0 ? String.format(Locale.ROOT, "%.1f%% of the training rows (eval_split)", 100 * base.data().evalSplit())
                : "none: cells are not evaluated on held-out pairs").append('\n');
        sb.append("  judge      ").append(judge == null ? "none (held-out preference accuracy ranks the cells; judge "
                + "the saved checkpoints with MT-Bench, see docs/study.md)" : judge + ", " + judgeSamples
                + " samples per held-out prompt").append('\n');
        TrainConfig b = base;
        SweepEval mt = mtBench();
        int seeds = seeds(); // parsed once: the loop below runs per cell and seed
        if (mt != null) {
            sb.append("  eval       ").append(mt).append(": ").append(String.format(Locale.ROOT, "%,d judge calls",
                    (long) mt.callsPerCell() * cells.size() * seeds)).append(" (questions × 2 turns × cells × seeds; "
                    + "replies are cached); the table shows the MT-Bench score\n");
        }
        sb.append("  seeds      ").append(seeds).append(seeds == 1 ? " (one run per cell; seeds: 3 tells a finding from "
                + "one trajectory)" : String.format(Locale.ROOT, " runs per cell, seeds %d–%d", base.optimization().seed(),
                (long) base.optimization().seed() + seeds - 1)).append('\n');
        sb.append("  output     ").append(outputDir().toAbsolutePath().normalize()).append('\n');
        if (!ignored.isEmpty()) {
            sb.append("  ignored    ").append(String.join("; ", ignored)).append('\n');
        }
        sb.append(String.format(Locale.ROOT, "  trainer    lr %s %s (warmup %s), %s epoch(s)%s, batch %d × %d accumulation, "
                + "max_length %d, max_prompt_length %d, seed %d%n", Sweep.format(b.optimization().learningRate()), b.optimization().scheduler().key(),
                b.optimization().warmupSteps() > 0 ? b.optimization().warmupSteps() + " steps" : Sweep.format(b.optimization().warmupRatio()),
                Sweep.format(b.optimization().numTrainEpochs()), b.optimization().maxSteps() > 0 ? " / max_steps " + b.optimization().maxSteps() : "", b.optimization().batchSize(),
                b.optimization().gradientAccumulationSteps(), b.data().maxLength(), b.data().maxPromptLength(), b.optimization().seed()));
        long rows = rows();
        long total = 0;
        boolean known = true;
        int done = 0;
        MemoryCheck mem = MemoryCheck.of(base, gpuBytes);
        if (mem != null) {
            sb.append("  memory     ").append(mem.device).append('\n');
        } else {
            sb.append("  memory     not planned: model_name_or_path is not here (its config.json alone is enough)\n");
        }
        int tooBig = 0;
        String firstTooBig = null;
        sb.append("  cells:\n");
        for (int i = 0; i < cells.size(); i++) {
            Sweep.Cell c = cells.get(i);
            TrainConfig cc = base.with(c.values(), "grid").validated();
            String memory = "";
            if (mem != null) {
                io.github.align4j.train.MemoryPlan mp = mem.plan(SweepGrid.forItsLoss(cc));
                boolean fits = mp.fits();
                memory = "  ~" + gib(mp.total()) + (mp.available() < 0 ? "" : fits ? " fits" : " DOES NOT FIT");
                if (!fits) {
                    tooBig++;
                    if (firstTooBig == null) {
                        firstTooBig = c.id() + ":\n" + mp.format().stripTrailing().indent(6);
                    }
                }
            }
            long steps = steps(cc, rows);
            known &= steps > 0;
            total += Math.max(0, steps) * seeds;
            Path d = outputDir().resolve("cells").resolve(c.id());
            boolean finished = Files.isDirectory(d);
            for (int k = 0; k < seeds && finished; k++) { // stops at the first unfinished run
                finished = Files.isRegularFile((seeds == 1 ? d : d.resolve("seed-" + ((long) b.optimization().seed() + k))).resolve("result.json"));
            }
            done += finished ? 1 : 0;
            sb.append(String.format(Locale.ROOT, "    %3d  %-28s %s  %s%s%n", i + 1, c.id(), steps > 0 ? steps + " steps"
                    : "steps unknown", finished ? "finished (will be reused)" : "to run", memory));
        }
        if (tooBig > 0) {
            sb.append(String.format(Locale.ROOT, "  NOT ONE DEVICE: %d of %d cells cannot fit in %s. Each run trains on one "
                    + "device (align4j has no multi-GPU training of one run): change the settings, e.g. use_peft: true "
                    + "(LoRA; recipes/pref-align-scan/*-lora.yaml), or use a larger device. The plan of %s",
                    tooBig, cells.size(), mem.target, firstTooBig));
            if (sb.charAt(sb.length() - 1) != '\n') {
                sb.append('\n');
            }
        }
        sb.append("  steps      ").append(known ? String.format(Locale.ROOT, "%,d optimizer steps in total (%s)", total,
                rows > 0 ? String.format(Locale.ROOT, "%,d training rows", rows) : "max_steps")
                : "unknown until the training data is read (set train_rows for the plan)").append('\n');
        sb.append("  resume     ").append(done).append(" of ").append(cells.size()).append(" cells finished\n");
        return sb.toString();
    }

    private static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
    }

    /** The device a dry run plans against, and the model's shape. */
    private record MemoryCheck(ModelConfig model, ai.djl.Device device0, long available, String device, String target) {
        static MemoryCheck of(TrainConfig base, long gpuBytes) {
            Path dir = Path.of(base.model().path());
            if (base.model().path().isBlank() || !Files.isRegularFile(dir.resolve("config.json"))) {
                return null;
            }
            ModelConfig mc = ModelConfig.load(dir);
            if (gpuBytes > 0) {
                return new MemoryCheck(mc, ai.djl.Device.gpu(), gpuBytes, "planned against one GPU of " + gib(gpuBytes)
                        + " (--gpu-memory)", "one GPU of " + gib(gpuBytes));
            }
            String d = base.model().device().toString();
            if (base.model().device().kind() == io.github.align4j.train.DeviceSpec.Kind.GPU
                    && ai.djl.engine.Engine.getInstance().getGpuCount() == 0) {
                return new MemoryCheck(mc, ai.djl.Device.gpu(), -1, "device " + d + " is not on this machine: estimates "
                        + "only; give --gpu-memory GIB (e.g. 80) to check each cell against one GPU", d);
            }
            ai.djl.Device dev = io.github.align4j.internal.Devices.resolve(d);
            io.github.align4j.train.MemoryPlan probe = io.github.align4j.train.MemoryPlan.builder(mc).device(dev).build();
            String here = dev + (probe.available() < 0 ? "" : " (" + gib(probe.available()) + " available here)");
            return new MemoryCheck(mc, dev, probe.available(), "planned against " + here, here);
        }

        io.github.align4j.train.MemoryPlan plan(TrainConfig c) {
            return io.github.align4j.train.MemoryPlan.from(c, model, device0).availableBytes(available).build();
        }
    }

    /** Training rows for the plan: counted in a present JSONL file, else train_rows, less the eval split. */
    long rows() {
        long rows = 0;
        Path f = Path.of(base.data().trainFile());
        if (!base.data().trainFile().isBlank() && Files.isRegularFile(f) && f.toString().endsWith(".jsonl")) {
            rows = nonBlankLines(f);
        }
        if (rows == 0) {
            rows = trainRows;
        }
        if (rows > 0 && base.data().evalFile().isBlank() && base.data().evalSplit() > 0) {
            rows -= Math.max(1, Math.round(rows * base.data().evalSplit()));
        }
        return rows;
    }

    /**
     * Non-blank lines of a file, counted over its bytes: no line is held in memory (a data file of
     * one 5 GB line is counted, not read into a string); 0 when it cannot be read.
     */
    static long nonBlankLines(Path f) {
        long rows = 0;
        boolean content = false;
        byte[] buf = new byte[1 << 16];
        try (java.io.InputStream in = Files.newInputStream(f)) {
            for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
                for (int i = 0; i < n; i++) {
                    byte b = buf[i];
                    if (b == '\n') {
                        rows += content ? 1 : 0;
                        content = false;
                    } else if (b != ' ' && b != '\t' && b != '\r' && b != '\f' && b != 0x0b && (b < 0x1c || b > 0x1f)) {
                        content = true;
                    }
                }
            }
        } catch (IOException e) {
            return 0;
        }
        return rows + (content ? 1 : 0);
    }

    /** Optimizer steps of one cell, or −1 when the number of rows is unknown. KTO counts each pair twice. */
    static long steps(TrainConfig c, long rows) {
        if (c.optimization().maxSteps() > 0) {
            return c.optimization().maxSteps();
        }
        if (rows <= 0) {
            return -1;
        }
        long n = SweepGrid.loss(c).dataKind() == io.github.align4j.loss.PreferenceLoss.DataKind.UNPAIRED ? 2 * rows : rows;
        return io.github.align4j.train.PreferenceTrainer.totalSteps(n, c);
    }

    private static String describeModel(Path dir) {
        if (!Files.isDirectory(dir)) {
            return dir + ": model folder not found (expected on a GPU machine)";
        }
        ModelConfig mc = ModelConfig.load(dir); // checks config.json; loads no weights
        return String.format(Locale.ROOT, "%s: %s, %d layers, hidden %d, vocab %d", dir, mc.modelType(), mc.numLayers(),
                mc.hiddenSize(), mc.vocabSize());
    }

    private static String describeData(String pathOrGlob) {
        if (pathOrGlob.isBlank()) {
            return "(not set)";
        }
        if (pathOrGlob.contains("*") || pathOrGlob.contains("?")) {
            Path dir = Path.of(pathOrGlob).getParent();
            return pathOrGlob + (dir != null && Files.isDirectory(dir) ? "" : ": not found (expected on a GPU machine)");
        }
        Path p = Path.of(pathOrGlob);
        if (!Files.exists(p)) {
            return p + ": not found (expected on a GPU machine)";
        }
        try {
            return p + (Files.isRegularFile(p) ? String.format(Locale.ROOT, " (%,d bytes)", Files.size(p)) : " (folder)");
        } catch (IOException e) {
            return p.toString();
        }
    }

}
