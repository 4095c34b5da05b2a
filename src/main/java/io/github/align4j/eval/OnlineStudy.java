package io.github.align4j.eval;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.internal.Offline;
import io.github.align4j.loss.Losses;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.TextTokenizer;
import io.github.align4j.train.PreferenceTrainer;
import io.github.align4j.train.TrainConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code align4j demo --online}: offline DPO against online DPO on the demo's task at the same number
 * of judge calls. Offline DPO trains on pairs of SFT samples labelled once ({@code pairSamples} judge
 * calls per training prompt, as the grid's cells do); online DPO spends the same calls during training:
 * {@code batchSize / 2} prompts a step, k = 2 samples each from the current policy, so
 * {@code prompts × pairSamples / batchSize} steps. Both use DPO at one β, the grid's learning rate and
 * schedule, and are judged on the held-out prompts against the SFT model (win rate with its 95% Wilson
 * interval, mean reward, KL), per seed; writes online.md and online.csv.
 */
final class OnlineStudy {
    static {
        Offline.ensure();
    }

    private OnlineStudy() {}

    /** One method's run at one seed. */
    record Row(String method, long seed, long judgeCalls, long steps, JudgeEval eval, double seconds) {}

    /** What the study found. */
    record Outcome(List<Row> rows, String table, List<Path> files) {}

    static Outcome run(Demo.Options o, double beta, PrintStream console) {
        Engine engine = Engine.getInstance();
        int threadsBefore = engine.getEngineName().equals("PyTorch") ? ai.djl.pytorch.jni.JniUtils.getNumThreads() : -1;
        if (threadsBefore > 0 && o.threads() > 0) {
            ai.djl.pytorch.jni.JniUtils.setNumThreads(o.threads());
        }
        try {
            return runInner(o, beta, console);
        } finally {
            if (threadsBefore > 0 && o.threads() > 0) {
                ai.djl.pytorch.jni.JniUtils.setNumThreads(threadsBefore);
            }
        }
    }

    private static Outcome runInner(Demo.Options o, double beta, PrintStream out) {
        Path sftDir = o.output().resolve("sft");
        int perStep = Math.max(1, o.batchSize() / 2);
        say(out, String.format(Locale.ROOT, "align4j demo --online: offline vs online DPO (β = %s) at the same number of "
                + "judge calls, %d seed%s; writing to %s", beta, o.seeds(), o.seeds() == 1 ? "" : "s", o.output()));
        say(out, "[1/3] SFT model");
        Demo.sft(o, sftDir, out);
        List<Row> rows = new ArrayList<>();
        try (TextTokenizer tok = TextTokenizer.load(sftDir, DemoCorpus.EOS_ID);
                CausalLM sft = CausalLM.load(sftDir, new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32))) {
            Judge judge = ReviewJudge.INSTANCE;
            Generator g = new Generator(sft, tok);
            List<String> train = DemoCorpus.trainPrompts().stream().map(DemoCorpus.Prompt::text).toList();
            List<String> heldOut = DemoCorpus.heldOutPrompts().stream().map(DemoCorpus.Prompt::text).toList();
            int[] stats = new int[3];
            List<TokenizedPair> pairs = Demo.pairs(g, judge, train, o.pairSamples(), o.seed() * 31 + 1, stats);
            long offlineCalls = (long) train.size() * o.pairSamples();
            long onlineSteps = Math.max(1, offlineCalls / (2L * perStep));
            say(out, String.format(Locale.ROOT, "[2/3] offline: %d judge calls label %d pairs (%d ties dropped), %d steps of "
                    + "%d pairs; online: %d steps of %d prompts × 2 samples = %d judge calls", offlineCalls, pairs.size(),
                    stats[1], o.steps(), o.batchSize(), onlineSteps, perStep, onlineSteps * 2 * perStep));
            if (pairs.isEmpty()) {
                throw new Align4jException("the SFT model's samples gave no usable pairs: the SFT model needs more training steps");
            }
            for (int s = 0; s < o.seeds(); s++) {
                long seed = o.seed() + s;
                SamplingOptions evalSampling = new SamplingOptions(24, 1.0, 1.0, 0, seed * 31 + 3, o.evalSamples());
                for (boolean online : new boolean[] {false, true}) {
                    long t = System.nanoTime();
                    TrainConfig cfg = config(o, beta, seed, online ? onlineSteps : o.steps(), online ? perStep : o.batchSize());
                    try (CausalLM policy = CausalLM.load(sftDir, CausalLM.Options.training().withDevice(Device.cpu()))) {
                        long calls;
                        long steps;
                        if (online) {
                            OnlineDpo od = OnlineDpo.builder().config(cfg).policy(policy).tokenizer(tok).prompts(train)
                                    .useChatTemplate(false).judge(judge)
                                    .sampling(new SamplingOptions(24, 1.0, 1.0, 0, seed * 31 + 5, 2)).build();
                            steps = od.train().steps();
                            calls = od.judgeCalls();
                        } else {
                            try (PreferenceTrainer tr = PreferenceTrainer.builder().config(cfg).policy(policy)
                                    .loss(Losses.create("dpo", Map.of())).trainPairs(pairs).build()) {
                                steps = tr.train().steps();
                            }
                            calls = offlineCalls;
                        }
                        JudgeEval e = Evaluator.judge(policy, sft, tok, heldOut, judge, evalSampling, false);
                        Row r = new Row(online ? "online DPO" : "offline DPO", seed, calls, steps, e,
                                (System.nanoTime() - t) / 1e9);
                        rows.add(r);
                        say(out, String.format(Locale.ROOT, "      %-11s seed %d  win %5.1f%% [%4.1f, %4.1f]  reward %6.3f "
                                + "(SFT %6.3f)  KL %5.2f  %d judge calls, %d steps  %.1f s", r.method(), seed,
                                100 * e.winRate(), 100 * e.winRateLow(), 100 * e.winRateHigh(), e.meanReward(),
                                e.referenceMeanReward(), e.klToReference(), calls, steps, r.seconds()));
                    }
                }
            }
        }
        String table = table(rows);
        say(out, "[3/3] win rate against the SFT model on " + DemoCorpus.heldOutPrompts().size() + " held-out prompts × "
                + o.evalSamples() + " samples (95% Wilson interval per seed; mean ± sd over seeds)\n");
        say(out, table);
        List<Path> files = write(o.output(), rows, table, beta);
        say(out, "report: " + files.get(0) + " (also " + files.get(1).getFileName() + ")");
        return new Outcome(List.copyOf(rows), table, files);
    }

    static TrainConfig config(Demo.Options o, double beta, long seed, long steps, int batch) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("learning_rate", o.learningRate());
        m.put("lr_scheduler_type", "cosine");
        m.put("warmup_ratio", 0.1);
        m.put("max_steps", (int) steps);
        m.put("per_device_train_batch_size", batch);
        m.put("max_grad_norm", 1.0);
        m.put("seed", (int) seed);
        m.put("beta", beta);
        m.put("logging_steps", Math.max(1, (int) steps / 5));
        m.put("device", "cpu");
        return TrainConfig.defaults().with(m, "demo --online");
    }

    /** A markdown table: one line per method and seed, then each method's mean ± sd over the seeds. */
    static String table(List<Row> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append("| method | seed | judge calls | steps | win rate vs SFT [95% CI] | reward (SFT) | KL |\n");
        sb.append("|---|---|---|---|---|---|---|\n");
        for (Row r : rows) {
            JudgeEval e = r.eval();
            sb.append(String.format(Locale.ROOT, "| %s | %d | %d | %d | %.1f%% [%.1f, %.1f] | %.3f (%.3f) | %.2f |%n",
                    r.method(), r.seed(), r.judgeCalls(), r.steps(), 100 * e.winRate(), 100 * e.winRateLow(),
                    100 * e.winRateHigh(), e.meanReward(), e.referenceMeanReward(), e.klToReference()));
        }
        for (String m : List.of("offline DPO", "online DPO")) {
            List<Row> mine = rows.stream().filter(r -> r.method().equals(m)).toList();
            if (mine.isEmpty()) {
                continue;
            }
            double[] w = mine.stream().mapToDouble(r -> r.eval().winRate()).toArray();
            double[] rw = mine.stream().mapToDouble(r -> r.eval().meanReward()).toArray();
            double[] kl = mine.stream().mapToDouble(r -> r.eval().klToReference()).toArray();
            sb.append(String.format(Locale.ROOT, "| **%s** | mean of %d | %d | %d | %.1f%% ± %.1f | %.3f ± %.3f | %.2f |%n", m,
                    mine.size(), mine.get(0).judgeCalls(), mine.get(0).steps(), 100 * mean(w), 100 * sd(w), mean(rw), sd(rw),
                    mean(kl)));
        }
        return sb.toString();
    }

    static double mean(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    /** Sample standard deviation (0 for one value). */
    static double sd(double[] v) {
        if (v.length < 2) {
            return 0;
        }
        double m = mean(v);
        double s = 0;
        for (double x : v) {
            s += (x - m) * (x - m);
        }
        return Math.sqrt(s / (v.length - 1));
    }

    private static List<Path> write(Path dir, List<Row> rows, String table, double beta) {
        StringBuilder csv = new StringBuilder("method,seed,judge_calls,steps,win_rate,win_rate_low,win_rate_high,mean_reward,"
                + "sft_mean_reward,kl\n");
        for (Row r : rows) {
            JudgeEval e = r.eval();
            csv.append(String.format(Locale.ROOT, "%s,%d,%d,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f%n", r.method(), r.seed(),
                    r.judgeCalls(), r.steps(), e.winRate(), e.winRateLow(), e.winRateHigh(), e.meanReward(),
                    e.referenceMeanReward(), e.klToReference()));
        }
        String md = "# align4j demo --online: offline vs online DPO at the same number of judge calls\n\n"
                + "DPO, β = " + beta + ", on the demo's review-sentiment task (lexicon judge). Offline: pairs of SFT samples "
                + "labelled once; online: 2 samples per prompt from the current policy each step, ranked by the judge. "
                + "Win rate against the SFT model on the held-out prompts, with the 95% Wilson interval of each seed.\n\n"
                + table;
        Path mdFile = dir.resolve("online.md");
        Path csvFile = dir.resolve("online.csv");
        writeAtomically(mdFile, md);
        writeAtomically(csvFile, csv.toString());
        return List.of(mdFile, csvFile);
    }

    private static void writeAtomically(Path file, String text) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), "." + file.getFileName(), ".tmp");
            try {
                Files.writeString(tmp, text, StandardCharsets.UTF_8);
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot write: " + e.getMessage(), e);
        }
    }

    private static void say(PrintStream out, String s) {
        if (out != null) {
            out.println(s);
            out.flush();
        }
    }
}
