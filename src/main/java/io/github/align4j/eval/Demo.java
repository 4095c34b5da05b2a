package io.github.align4j.eval;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.SftTrainer;
import io.github.align4j.train.TrainConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code align4j demo}: the blog's DPO / IPO / KTO β-scan at a size that runs on two CPU cores in
 * minutes, with no files and no network.
 *
 * <ol>
 *   <li>Builds a small Llama model from scratch and trains it (SFT) on product reviews generated
 *       from a seed ({@link DemoCorpus}): it learns to write fluent reviews of mixed sentiment.</li>
 *   <li>Samples pairs of completions from the SFT model on the training prompts and labels them
 *       with a programmatic judge ({@link ReviewJudge}: lexicon sentiment, grammar and topic
 *       checks), as the DPO paper's controlled-sentiment experiment used a sentiment classifier in
 *       place of human raters. Ties are dropped. KTO gets each pair as two unpaired examples.</li>
 *   <li>Runs the grid (default {@code dpo}, {@code ipo}, {@code kto_pair}, {@code kto} × β ∈ {0.01,
 *       0.1, 0.3, 0.6, 0.9}) with one reference pass shared by the grid ({@link Sweep}).</li>
 *   <li>Evaluates every cell on held-out prompts, which were in neither the SFT corpus nor the
 *       preference data: the judge's mean reward of sampled completions, the win rate against
 *       the SFT model's samples with its 95% interval, KL to the reference, and held-out
 *       preference accuracy.</li>
 *   <li>Writes results.csv, results.md, the plots and report.html, and prints the headline.</li>
 * </ol>
 */
public final class Demo {
    static {
        Offline.ensure();
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private Demo() {}

    /**
     * The demo's settings.
     *
     * @param output where everything is written
     * @param losses the grid's losses
     * @param betas the grid's β values
     * @param seed seed of the corpus, the model, sampling and training
     * @param threads PyTorch intra-op threads while the demo runs (1 is fastest for a model this small)
     * @param hidden the model's hidden size
     * @param layers the model's decoder layers
     * @param sftReviews SFT reviews per training prompt
     * @param sftSteps SFT optimizer steps (batch 32)
     * @param pairSamples completions sampled per training prompt to make pairs (two per pair)
     * @param steps preference-tuning optimizer steps per cell
     * @param batchSize pairs per preference-tuning step
     * @param learningRate preference-tuning peak learning rate
     * @param evalSamples completions per held-out prompt for the judge
     * @param evalPairSamples completions per held-out prompt to make held-out pairs
     * @param seeds runs per cell, seeds {@code seed}, {@code seed + 1}, ... of training and judge
     *     sampling (the SFT model and the preference data come from {@code seed} alone)
     */
    public record Options(Path output, List<String> losses, List<Double> betas, long seed, int threads, int hidden,
            int layers, int sftReviews, int sftSteps, int pairSamples, int steps, int batchSize, double learningRate,
            int evalSamples, int evalPairSamples, int seeds) {
        public Options {
            losses = List.copyOf(losses);
            betas = List.copyOf(betas);
            if (losses.isEmpty() || betas.isEmpty()) {
                throw new Align4jException("the demo's grid is empty: give at least one --losses and one --betas value");
            }
            if (pairSamples < 2 || pairSamples % 2 != 0 || evalPairSamples < 2 || evalPairSamples % 2 != 0) {
                throw new Align4jException("samples per prompt for pairs must be even and ≥ 2");
            }
            if (seeds < 1) {
                throw new Align4jException("--seeds must be ≥ 1, got " + seeds);
            }
        }

        /**
         * The full demo: 4 losses × 5 β × 3 seeds (60 runs); about 3.5 minutes on two idle cores,
         * 7 on busy ones (docs/study.md, Timings).
         */
        public static Options full(Path output) {
            return new Options(output, List.of("dpo", "ipo", "kto_pair", "kto"), List.of(0.01, 0.1, 0.3, 0.6, 0.9), 1, 1,
                    64, 2, 12, 1000, 16, 150, 16, 5e-4, 16, 4, 3);
        }

        /** {@code --quick}: 4 losses × 2 β × 3 seeds, fewer steps and samples (the CI smoke test); about a minute. */
        public static Options quick(Path output) {
            return new Options(output, List.of("dpo", "ipo", "kto_pair", "kto"), List.of(0.1, 0.6), 1, 1,
                    64, 2, 8, 600, 8, 80, 16, 5e-4, 8, 4, 3);
        }

        public Options withGrid(List<String> l, List<Double> b) {
            return new Options(output, l, b, seed, threads, hidden, layers, sftReviews, sftSteps, pairSamples, steps,
                    batchSize, learningRate, evalSamples, evalPairSamples, seeds);
        }

        public Options withSeed(long s) {
            return new Options(output, losses, betas, s, threads, hidden, layers, sftReviews, sftSteps, pairSamples, steps,
                    batchSize, learningRate, evalSamples, evalPairSamples, seeds);
        }

        public Options withThreads(int t) {
            return new Options(output, losses, betas, seed, t, hidden, layers, sftReviews, sftSteps, pairSamples, steps,
                    batchSize, learningRate, evalSamples, evalPairSamples, seeds);
        }

        public Options withSeeds(int n) {
            return new Options(output, losses, betas, seed, threads, hidden, layers, sftReviews, sftSteps, pairSamples, steps,
                    batchSize, learningRate, evalSamples, evalPairSamples, n);
        }

        /** The settings that decide the SFT model (a rerun with the same ones reuses it). */
        Map<String, Object> sftSettings() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("seed", seed);
            m.put("hidden", hidden);
            m.put("layers", layers);
            m.put("sft_reviews", sftReviews);
            m.put("sft_steps", sftSteps);
            m.put("vocab", DemoCorpus.vocabulary());
            return m;
        }
    }

    /**
     * What the demo found.
     *
     * @param result every cell's metrics
     * @param headline the closing summary (also in report.html and results.md)
     * @param allBeatSft whether every algorithm's best cell has a win rate above 50%
     * @param files the report files
     * @param seconds wall time
     */
    public record Outcome(Sweep.Result result, String headline, boolean allBeatSft, List<Path> files, double seconds) {}

    /** Runs the whole demo; progress goes to console (null: silent). */
    public static Outcome run(Options o, PrintStream console) {
        long start = System.nanoTime();
        Engine engine = Engine.getInstance();
        int threadsBefore = engine.getEngineName().equals("PyTorch") ? ai.djl.pytorch.jni.JniUtils.getNumThreads() : -1;
        if (threadsBefore > 0 && o.threads() > 0) {
            ai.djl.pytorch.jni.JniUtils.setNumThreads(o.threads());
        }
        try {
            return runInner(o, console, start);
        } finally {
            if (threadsBefore > 0 && o.threads() > 0) {
                ai.djl.pytorch.jni.JniUtils.setNumThreads(threadsBefore);
            }
        }
    }

    /**
     * {@code align4j demo --online}: offline against online DPO at β on this task, at the same number of
     * judge calls, over {@code o.seeds()} seeds (see {@link OnlineStudy}); writes online.md and online.csv.
     *
     * @return the results table (markdown)
     */
    public static String online(Options o, double beta, PrintStream console) {
        return OnlineStudy.run(o, beta, console).table();
    }

    private static Outcome runInner(Options o, PrintStream console, long start) {
        PrintStream out = console;
        Judge judge = ReviewJudge.INSTANCE;
        ReviewJudge.register();
        Path sftDir = o.output().resolve("sft");
        int cells = o.losses().size() * o.betas().size();
        say(out, String.format(Locale.ROOT, "align4j demo: %s × β %s (%d cells) × %d seed%s on a generated review-sentiment "
                + "task, judged by a lexicon score; writing to %s", o.losses(), o.betas(), cells, o.seeds(),
                o.seeds() == 1 ? "" : "s", o.output()));

        // 1. model + SFT
        say(out, "[1/5] SFT model");
        sft(o, sftDir, out);

        try (TextTokenizer tok = TextTokenizer.load(sftDir, DemoCorpus.EOS_ID);
                CausalLM sft = CausalLM.load(sftDir, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32))) {
            // 2. preference data from the SFT model's own samples, labelled by the judge
            long t = System.nanoTime();
            Generator g = new Generator(sft, tok);
            List<String> trainPrompts = DemoCorpus.trainPrompts().stream().map(DemoCorpus.Prompt::text).toList();
            List<String> heldOut = DemoCorpus.heldOutPrompts().stream().map(DemoCorpus.Prompt::text).toList();
            int[] stats = new int[3];
            List<TokenizedPair> train = pairs(g, judge, trainPrompts, o.pairSamples(), o.seed() * 31 + 1, stats);
            int[] evalStats = new int[3];
            List<TokenizedPair> eval = pairs(g, judge, heldOut, o.evalPairSamples(), o.seed() * 31 + 2, evalStats);
            say(out, String.format(Locale.ROOT, "[2/5] preference data: %d training prompts × %d SFT samples → %d pairs "
                    + "(%d ties dropped); %d held-out prompts → %d held-out pairs; judge '%s' (%.1f s)",
                    trainPrompts.size(), o.pairSamples(), train.size(), stats[1], heldOut.size(), eval.size(),
                    ReviewJudge.NAME, (System.nanoTime() - t) / 1e9));
            if (train.isEmpty() || eval.isEmpty()) {
                throw new Align4jException("the SFT model's samples gave no usable pairs (every pair tied, e.g. all malformed): the SFT model needs more training steps");
            }

            // 3.–4. the grid, evaluated on held-out prompts
            TrainConfig base = TrainConfig.defaults().with(Map.of(
                    "learning_rate", o.learningRate(), "lr_scheduler_type", "cosine", "warmup_ratio", 0.1,
                    "max_steps", o.steps(), "per_device_train_batch_size", o.batchSize(),
                    "per_device_eval_batch_size", 64, "max_grad_norm", 1.0, "seed", (int) o.seed(),
                    "logging_steps", Math.max(1, o.steps() / 5), "device", "cpu"), "demo");
            Map<String, List<?>> grid = new LinkedHashMap<>();
            grid.put("loss_type", o.losses());
            grid.put("beta", o.betas());
            SamplingOptions sampling = new SamplingOptions(24, 1.0, 1.0, 0, o.seed() * 31 + 3, o.evalSamples());
            Sweep sweep = Sweep.builder().base(base).grid(grid).model(sftDir).trainPairs(train).evalPairs(eval)
                    .judge(judge, heldOut, sampling, tok).output(o.output()).listener(new ProgressListener(out, o))
                    .seeds(o.seeds()).build();
            say(out, String.format(Locale.ROOT, "[3/5] grid: %d cells × %d seeds (%d–%d: batch order, KTO's split, judge "
                    + "sampling) × %d steps of %d pairs (lr %.0e, cosine); [4/5] each judged on %d held-out prompts × %d "
                    + "samples against the SFT model", sweep.cells().size(), o.seeds(), o.seed(), o.seed() + o.seeds() - 1,
                    o.steps(), o.batchSize(), o.learningRate(), heldOut.size(), o.evalSamples()));
            Sweep.Result result = sweep.run();

            // 5. report
            Headline h = headline(result);
            String config = configText(o, base, train.size(), eval.size(), heldOut.size(), sampling);
            List<Path> files = Report.write(result, "align4j demo: DPO, IPO, KTO β-scan on a review-sentiment task",
                    config, h.text(), o.output());
            say(out, "[5/5] results: rows = algorithm, columns = β, ★ = best β of the row (win rate vs SFT; "
                    + (o.seeds() > 1 ? "mean ± sd over " + o.seeds() + " seeds [min, max])\n" : "95% CI, one seed)\n"));
            say(out, Report.table(result));
            say(out, h.text());
            say(out, "report: " + o.output().resolve("report.html") + "  (also results.csv, results_summary.csv, results.md, "
                    + "metric_vs_beta.png/.svg, reward_vs_kl.png/.svg)");
            double seconds = (System.nanoTime() - start) / 1e9;
            say(out, String.format(Locale.ROOT, "done in %.0f s", seconds));
            return new Outcome(result, h.text(), h.allBeat(), files, seconds);
        }
    }

    private static void say(PrintStream out, String s) {
        if (out != null) {
            out.println(s);
            out.flush();
        }
    }

    // ---- SFT -----------------------------------------------------------------------------------------

    /** Builds and trains the SFT model into dir, or reuses it when dir holds one made with the same settings. */
    static void sft(Options o, Path dir, PrintStream out) {
        Path settings = dir.resolve("demo-settings.json");
        try {
            JsonNode want = JSON.readTree(JSON.writeValueAsString(o.sftSettings())); // as read back: ints stay ints
            if (Files.isRegularFile(settings) && Files.isRegularFile(dir.resolve("model.safetensors"))
                    && want.equals(JSON.readTree(settings.toFile()))) {
                say(out, "      reusing the SFT model in " + dir + " (same seed and sizes)");
                return;
            }
            Files.createDirectories(dir);
            Files.deleteIfExists(settings);
            DemoCorpus.writeTokenizer(dir);
            ModelConfig cfg = ModelConfig.parse((ObjectNode) JSON.readTree(DemoCorpus.modelConfigJson(o.hidden(), o.layers())),
                    "the demo's config.json");
            long t = System.nanoTime();
            try (TextTokenizer tok = TextTokenizer.load(dir, DemoCorpus.EOS_ID);
                    CausalLM lm = CausalLM.init(cfg, o.seed(), new CausalLM.Options(Device.cpu(), true, DataType.FLOAT32))) {
                List<SftTrainer.Example> data = new ArrayList<>();
                for (DemoCorpus.Example e : DemoCorpus.sftCorpus(o.seed(), o.sftReviews())) {
                    int[] p = tok.encode(e.prompt());
                    int[] c = tok.encode(e.completion());
                    int[] ids = Arrays.copyOf(p, p.length + c.length + 1);
                    System.arraycopy(c, 0, ids, p.length, c.length);
                    ids[ids.length - 1] = DemoCorpus.EOS_ID;
                    data.add(new SftTrainer.Example(ids, p.length));
                }
                say(out, String.format(Locale.ROOT, "      a Llama model (%d layers, hidden %d, vocab %d: %,d weights) "
                        + "trained on %d generated reviews of %d prompts for %d steps",
                        o.layers(), o.hidden(), DemoCorpus.vocabSize(), lm.parameterCount(), data.size(),
                        DemoCorpus.trainPrompts().size(), o.sftSteps()));
                TrainConfig c = TrainConfig.defaults().with(Map.of("learning_rate", 3e-3, "per_device_train_batch_size", 32,
                        "max_steps", o.sftSteps(), "logging_steps", Math.max(1, o.sftSteps() / 10), "lr_scheduler_type", "cosine",
                        "warmup_ratio", 0.05, "seed", (int) o.seed()), "demo SFT");
                List<Double> losses = SftTrainer.train(lm, data, c, null);
                lm.save(dir);
                say(out, String.format(Locale.ROOT, "      SFT loss %.3f (last 10%% of %d steps; %.1f s)", losses.get(losses.size() - 1),
                        o.sftSteps(), (System.nanoTime() - t) / 1e9));
            }
            Files.writeString(settings, JSON.writeValueAsString(want));
        } catch (IOException e) {
            throw new Align4jException(dir + ": cannot write the SFT model: " + e.getMessage(), e);
        }
    }

    // ---- preference data -------------------------------------------------------------------------------

    /**
     * Samples {@code perPrompt} completions of each prompt from the model and pairs them up (0 with
     * 1, 2 with 3, ...); the judge's higher-scored one is chosen, ties are dropped. Completions are
     * the exact sampled ids (with the stop token when the sample ended at one).
     *
     * @param stats out: {pairs, ties, malformed samples}
     */
    static List<TokenizedPair> pairs(Generator g, Judge judge, List<String> prompts, int perPrompt, long seed, int[] stats) {
        List<TokenizedPair> out = new ArrayList<>();
        SamplingOptions o = new SamplingOptions(24, 1.0, 1.0, 0, seed, perPrompt);
        long row = 0;
        for (int i = 0; i < prompts.size(); i++) {
            String prompt = prompts.get(i);
            int[] ids = g.encodePrompt(prompt, false);
            Generator.Result r = g.run(ids, o.withSeed(Evaluator.promptSeed(seed, i)), true);
            double[] s = new double[perPrompt];
            for (int j = 0; j < perPrompt; j++) {
                s[j] = judge.score(prompt, g.decode(r.tokens().get(j)));
                if (s[j] == ReviewJudge.MALFORMED) {
                    stats[2]++;
                }
            }
            for (int j = 0; j + 1 < perPrompt; j += 2) {
                if (s[j] == s[j + 1]) {
                    stats[1]++;
                    continue;
                }
                int hi = s[j] > s[j + 1] ? j : j + 1;
                int lo = hi == j ? j + 1 : j;
                out.add(new TokenizedPair(r.prompt(), r.withStop(hi), r.withStop(lo), row++));
                stats[0]++;
            }
        }
        return out;
    }

    // ---- the headline ----------------------------------------------------------------------------------

    record Headline(String text, boolean allBeat) {}

    static Headline headline(Sweep.Result r) {
        CellSummary best = r.best();
        if (best == null || !Double.isFinite(best.mean("win_rate"))) {
            return new Headline("no cell was judged", false);
        }
        int seeds = r.seeds();
        StringBuilder sb = new StringBuilder();
        Map<String, CellSummary> bestPerRow = r.bestPerRow();
        List<String> tiedWith = new ArrayList<>();
        bestPerRow.forEach((row, c) -> {
            if (!c.equals(best) && !best.beatsOnEverySeed(c, "win_rate")) {
                tiedWith.add(row + " (β = " + Sweep.format(c.cell().beta()) + ")");
            }
        });
        sb.append(String.format(Locale.ROOT, "Highest %s: %s at β = %s, win rate %s against the SFT model; mean judge reward "
                + "%.3f vs %.3f for SFT, KL %.2f nats.%n", seeds > 1 ? "mean" : "cell", best.cell().algorithm(),
                Sweep.format(best.cell().beta()), Report.shown(best, "win_rate"), best.mean("mean_reward"),
                best.mean("sft_mean_reward"), best.mean("kl")));
        if (bestPerRow.size() > 1) {
            if (seeds < 2) {
                sb.append("One seed: whether it beats the other algorithms' best cells is not tested (run --seeds 3).\n");
            } else if (tiedWith.isEmpty()) {
                sb.append("It beats every other algorithm's best cell on all ").append(seeds).append(" seeds.\n");
            } else {
                sb.append("Not distinguishable from ").append(String.join(", ", tiedWith))
                        .append(": the seeds disagree.\n");
            }
        }
        sb.append(Report.bestBetas(r)).append('\n');
        sb.append("Against the SFT model (50%):\n");
        boolean allBeat = true;
        List<String> losers = new ArrayList<>();
        List<String> unclear = new ArrayList<>();
        for (Map.Entry<String, CellSummary> e : bestPerRow.entrySet()) {
            CellSummary c = e.getValue();
            double w = c.mean("win_rate");
            String verdict;
            if (seeds > 1 && c.aboveOnEverySeed("win_rate", 0.5)) {
                verdict = "beats SFT on every seed";
            } else if (seeds == 1 && w > 0.5 && c.runs().get(0).metric("win_rate_low") > 0.5) {
                verdict = "beats SFT (95% interval above 50%, one seed)";
            } else if (w > 0.5) {
                verdict = seeds > 1 ? "above 50% on the mean, not on every seed" : "above 50%; the interval includes 50%";
                unclear.add(e.getKey());
            } else {
                verdict = "does NOT beat the SFT model";
                allBeat = false;
                losers.add(e.getKey());
            }
            sb.append(String.format(Locale.ROOT, "  %-10s β = %-5s %s  reward %.3f  KL %.2f  %s%n", e.getKey(),
                    Sweep.format(c.cell().beta()), Report.shown(c, "win_rate"), c.mean("mean_reward"), c.mean("kl"), verdict));
        }
        if (allBeat) {
            sb.append("Every algorithm beats the SFT model at its best β (mean win rate above 50%)");
            sb.append(unclear.isEmpty() ? (seeds > 1 ? ", on every seed." : ", each with its 95% interval above 50%.")
                    : "; for " + String.join(", ", unclear) + (seeds > 1 ? " not on every seed, so that win is not established."
                            : " the 95% interval includes 50%, so that win is not significant at this sample size."));
        } else {
            sb.append("Not every algorithm beats the SFT model at its best β: ").append(String.join(", ", losers))
                    .append(" does not (mean win rate at or below 50%). This is reported as measured; the judge was not tuned.");
        }
        return new Headline(sb.toString(), allBeat);
    }

    static String configText(Options o, TrainConfig base, int trainPairs, int evalPairs, int heldOutPrompts,
            SamplingOptions sampling) {
        StringBuilder sb = new StringBuilder();
        sb.append("# align4j demo").append(o.equals(Options.quick(o.output())) ? " --quick"
                : o.withGrid(Options.full(o.output()).losses(), Options.full(o.output()).betas())
                        .equals(Options.full(o.output()).withSeed(o.seed()).withThreads(o.threads()).withSeeds(o.seeds()))
                        ? "" : " (custom sizes)")
                .append('\n');
        sb.append("seed: ").append(o.seed()).append(" (SFT model, preference data); seeds per cell: ").append(o.seeds())
                .append(" (").append(o.seed()).append("–").append(o.seed() + o.seeds() - 1)
                .append(": batch order, KTO's split, judge sampling)\n");
        sb.append("model: llama, hidden ").append(o.hidden()).append(", layers ").append(o.layers()).append(", vocab ")
                .append(DemoCorpus.vocabSize()).append(" (word-level tokenizer of the task)\n");
        sb.append("sft: ").append(o.sftReviews()).append(" reviews × ").append(DemoCorpus.trainPrompts().size())
                .append(" prompts, ").append(o.sftSteps()).append(" steps, batch 32, lr 3e-3 cosine\n");
        sb.append("judge: ").append(ReviewJudge.NAME).append(" (lexicon sentiment, grammar and topic checks)\n");
        sb.append("preference data: ").append(trainPairs).append(" pairs from ").append(o.pairSamples())
                .append(" SFT samples per training prompt; ").append(evalPairs).append(" held-out pairs\n");
        sb.append("held-out prompts: ").append(heldOutPrompts).append(" × ").append(o.evalSamples())
                .append(" samples; sampling ").append(sampling).append('\n');
        sb.append("grid:\n  loss_type: ").append(o.losses()).append("\n  beta: ").append(o.betas()).append('\n');
        sb.append("trainer (every cell):\n");
        base.asMap().forEach((k, v) -> {
            if (!v.equals(TrainConfig.defaults().get(k)) || k.equals("learning_rate")) {
                sb.append("  ").append(k).append(": ").append(v).append('\n');
            }
        });
        sb.append("  precompute_ref_log_probs: true\n");
        return sb.toString();
    }

    /** Draws the progress bar and prints each cell's row as it finishes. */
    static final class ProgressListener implements Sweep.Listener {
        private final PrintStream out;
        private Progress bar;
        private final long perCell;
        private long stepsSeen;

        ProgressListener(PrintStream out, Options o) {
            this.out = out;
            this.perCell = o.steps();
        }

        @Override
        public void cellStarted(int index, int total, Sweep.Cell cell, long steps) {
            if (bar == null) {
                bar = new Progress(out, total * perCell);
            }
            stepsSeen = 0;
            bar.label(String.format(Locale.ROOT, "run %d/%d %s", index + 1, total, cell.id()));
        }

        @Override
        public void step(Sweep.Cell cell, long step, long steps) {
            bar.advance(1);
            stepsSeen++;
        }

        @Override
        public void cellFinished(int index, int total, Sweep.CellResult r) {
            bar.skip(perCell - stepsSeen);
            bar.println(String.format(Locale.ROOT, "  %-9s β=%-5s seed %d  win %5.1f%% [%4.1f, %4.1f]  reward %6.3f  KL %6.2f  "
                    + "pref acc %5.1f%%  %5.1f s%s", r.cell().algorithm(), Sweep.format(r.cell().beta()), r.seed(),
                    100 * r.metric("win_rate"), 100 * r.metric("win_rate_low"), 100 * r.metric("win_rate_high"),
                    r.metric("mean_reward"), r.metric("kl"), 100 * r.metric("pref_accuracy"), r.seconds(),
                    r.reused() ? " (reused)" : ""));
            if (index == total - 1) {
                bar.finish();
            }
        }
    }
}
