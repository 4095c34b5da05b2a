package io.github.align4j.spark;

import io.github.align4j.Align4jException;
import io.github.align4j.eval.Sweep;
import io.github.align4j.eval.SweepConfig;
import io.github.align4j.internal.Texts;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/**
 * {@code spark-submit --class io.github.align4j.spark.Main align4j-spark.jar <command> ...}: the align4j
 * commands that spread over a cluster, with the flags of the matching {@code align4j} command.
 *
 * <ul>
 *   <li>{@code sweep --config FILE [--output DIR] [--seeds N] [--dry-run]}: every (cell, seed) run is a Spark
 *       task; the driver writes the report (see {@link SparkSweep}).
 *   <li>{@code logprobs --model DIR --data PATH --out FILE.jsonl [--adapter DIR] ...}: the reference's log-probs of
 *       every row, data-parallel, with TRL's precompute columns (see {@link SparkLogprobs}).
 *   <li>{@code generate --model DIR --data PROMPTS.jsonl --out FILE.jsonl [...]}: samples for a table of prompts,
 *       as {@code align4j generate --json} (see {@link SparkGenerate}).
 *   <li>{@code generate --mt-bench --models MODELS.jsonl --output DIR [...]}: MT-Bench answers of many models, one
 *       task per model, as {@code align4j mt-bench --answers-only} (see {@link SparkMtBench}).
 * </ul>
 *
 * Exit codes as the {@code align4j} command line: 0 done, 2 a user error (the message says what to change),
 * 1 anything else.
 */
public final class Main {
    private Main() {}

    static final String USAGE = "usage: spark-submit --class io.github.align4j.spark.Main align4j-spark.jar sweep --config "
            + "FILE.yaml [--output DIR] [--seeds N] [--dry-run] | logprobs --model DIR --data PATH --out FILE.jsonl "
            + "[--adapter DIR] [--batch-size N] [--max-length N] [--max-prompt-length N] [--apply-chat-template] "
            + "[--skip-bad-rows] [--cache-dir DIR] | generate --model DIR --data PROMPTS.jsonl --out FILE.jsonl "
            + "[--adapter DIR] [--max-new-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S] "
            + "[--num-samples N] [--no-chat-template] | generate --mt-bench --models MODELS.jsonl --output DIR "
            + "[--max-new-tokens N] [--questions N | --question-ids ID,...] [--seed S]";

    public static void main(String[] args) {
        // DJL must never call home (the executors get it from align4j's Offline too)
        if (System.getProperty("OPT_OUT_TRACKING") == null && System.getenv("OPT_OUT_TRACKING") == null) {
            System.setProperty("OPT_OUT_TRACKING", "true");
        }
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        try {
            if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h")) {
                out.println(USAGE);
                return args.length == 0 ? 2 : 0;
            }
            String command = args[0];
            if (command.equals("logprobs")) {
                return logprobs(Arrays.copyOfRange(args, 1, args.length), out);
            }
            if (command.equals("generate")) {
                return generate(Arrays.copyOfRange(args, 1, args.length), out);
            }
            if (!command.equals("sweep")) {
                throw new Align4jException("unknown command '" + Texts.printable(command) + "'; " + USAGE);
            }
            Map<String, String> flags = flags(Arrays.copyOfRange(args, 1, args.length), List.of("--config", "--output",
                    "--seeds"), List.of("--dry-run"));
            String config = flags.get("--config");
            if (config == null) {
                throw new Align4jException("sweep: --config FILE.yaml is required");
            }
            SweepConfig sc = SweepConfig.load(Path.of(config));
            if (flags.containsKey("--output")) {
                sc = sc.withOutputDir(flags.get("--output"));
            }
            int seeds = 0;
            if (flags.containsKey("--seeds")) {
                try {
                    seeds = Integer.parseInt(flags.get("--seeds"));
                } catch (NumberFormatException e) {
                    seeds = -1;
                }
                if (seeds < 1 || seeds > Sweep.MAX_SEEDS) {
                    throw new Align4jException("--seeds must be between 1 and " + Sweep.MAX_SEEDS + ", got "
                            + Texts.printable(flags.get("--seeds")));
                }
            }
            if (flags.containsKey("--dry-run")) {
                out.print(sc.plan());
                out.println("dry run: nothing was trained.");
                return 0;
            }
            out.print(sc.plan());
            out.flush();
            SparkSession spark = SparkSession.builder().appName("align4j sweep " + sc.file().getFileName()).getOrCreate();
            try {
                Sweep.Status st = SparkSweep.run(spark, sc, seeds);
                out.printf("sweep: %d runs finished; report: %s%n", st.runs(), sc.outputDir().toAbsolutePath().normalize()
                        .resolve("report.html"));
            } finally {
                spark.stop();
            }
            return 0;
        } catch (Align4jException e) {
            err.println("error: " + Texts.printable(e.getMessage()));
            return 2;
        }
    }

    /** {@code logprobs --model DIR --data PATH --out FILE [...]}: see {@link SparkLogprobs}. */
    private static int logprobs(String[] args, PrintStream out) {
        Map<String, String> f = flags(args, List.of("--model", "--data", "--out", "--adapter", "--batch-size",
                "--max-length", "--max-prompt-length", "--cache-dir"), List.of("--apply-chat-template", "--skip-bad-rows"));
        for (String req : List.of("--model", "--data", "--out")) {
            if (!f.containsKey(req)) {
                throw new Align4jException("logprobs: " + req + " is required; " + USAGE);
            }
        }
        SparkLogprobs.Job job = new SparkLogprobs.Job(f.get("--model"), f.get("--adapter"), f.get("--data"),
                number(f, "--batch-size", 8, 1), number(f, "--max-length", 1024, 0), number(f, "--max-prompt-length", 512, 0),
                f.containsKey("--apply-chat-template"), f.get("--cache-dir"), f.containsKey("--skip-bad-rows"));
        SparkSession spark = SparkSession.builder().appName("align4j logprobs " + f.get("--data")).getOrCreate();
        try {
            SparkLogprobs.Summary s = SparkLogprobs.run(spark, job, Path.of(f.get("--out")));
            out.printf(java.util.Locale.ROOT, "logprobs: scored %d of %d rows with %d tasks in %.1f s (%.1f rows/s); wrote %s%n",
                    s.scored(), s.rowsRead(), s.tasks(), s.seconds(), s.rowsPerSecond(), f.get("--out"));
        } finally {
            spark.stop();
        }
        return 0;
    }

    /** {@code generate --model DIR --data PROMPTS.jsonl --out FILE.jsonl [...]}: see {@link SparkGenerate}. */
    private static int generate(String[] args, PrintStream out) {
        if (Arrays.asList(args).contains("--mt-bench")) {
            return mtBench(args, out);
        }
        Map<String, String> f = flags(args, List.of("--model", "--data", "--out", "--adapter", "--max-new-tokens",
                "--temperature", "--top-p", "--top-k", "--seed", "--num-samples"), List.of("--no-chat-template"));
        for (String req : List.of("--model", "--data", "--out")) {
            if (!f.containsKey(req)) {
                throw new Align4jException("generate: " + req + " is required; " + USAGE);
            }
        }
        SparkGenerate.Job job = new SparkGenerate.Job(f.get("--model"), f.get("--adapter"), number(f, "--max-new-tokens", 128, 1),
                real(f, "--temperature", 1.0), real(f, "--top-p", 1.0), number(f, "--top-k", 0, 0),
                number(f, "--seed", 0, Integer.MIN_VALUE), number(f, "--num-samples", 1, 1), !f.containsKey("--no-chat-template"));
        SparkSession spark = SparkSession.builder().appName("align4j generate " + f.get("--data")).getOrCreate();
        try {
            long t = System.nanoTime();
            long lines = SparkGenerate.run(spark, job, Path.of(f.get("--data")), Path.of(f.get("--out")));
            out.printf(java.util.Locale.ROOT, "generate: %d completions in %.1f s; wrote %s%n", lines,
                    (System.nanoTime() - t) / 1e9, f.get("--out"));
        } finally {
            spark.stop();
        }
        return 0;
    }

    /** {@code generate --mt-bench --models FILE --output DIR [...]}: see {@link SparkMtBench}. */
    private static int mtBench(String[] args, PrintStream out) {
        Map<String, String> f = flags(args, List.of("--models", "--output", "--max-new-tokens", "--questions",
                "--question-ids", "--seed"), List.of("--mt-bench"));
        for (String req : List.of("--models", "--output")) {
            if (!f.containsKey(req)) {
                throw new Align4jException("generate --mt-bench: " + req + " is required; " + USAGE);
            }
        }
        List<Integer> ids = null;
        if (f.containsKey("--question-ids")) {
            ids = new ArrayList<>();
            for (String part : f.get("--question-ids").split(",", -1)) {
                ids.add(number(Map.of("--question-ids", part), "--question-ids", 0, 1));
            }
        }
        long seed = 42;
        if (f.containsKey("--seed")) {
            try {
                seed = Long.parseLong(f.get("--seed").trim());
            } catch (NumberFormatException e) {
                throw new Align4jException("--seed: expected a whole number, got '" + Texts.printable(f.get("--seed").length() > 40
                        ? f.get("--seed").substring(0, 40) + "…" : f.get("--seed")) + "'");
            }
        }
        SparkMtBench.Job job = new SparkMtBench.Job(SparkMtBench.readModels(Path.of(f.get("--models"))), f.get("--output"),
                number(f, "--max-new-tokens", 1024, 1), number(f, "--questions", 0, 0), ids, seed);
        SparkSession spark = SparkSession.builder().appName("align4j generate --mt-bench " + f.get("--models")).getOrCreate();
        try {
            SparkMtBench.Summary s = SparkMtBench.run(spark, job);
            out.printf(java.util.Locale.ROOT, "generate --mt-bench: answers of %d models in %.1f s:%n", s.files().size(),
                    s.seconds());
            s.files().forEach(p -> out.println("  " + Texts.printable(p.toString())));
        } finally {
            spark.stop();
        }
        return 0;
    }

    private static double real(Map<String, String> f, String name, double dflt) {
        String v = f.get(name);
        if (v == null) {
            return dflt;
        }
        try {
            return Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new Align4jException(name + ": expected a number, got '" + Texts.printable(v.length() > 40
                    ? v.substring(0, 40) + "…" : v) + "'");
        }
    }

    private static int number(Map<String, String> f, String name, int dflt, int min) {
        String v = f.get(name);
        if (v == null) {
            return dflt;
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= min) {
                return n;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new Align4jException(name + ": expected a whole number ≥ " + min + ", got '" + Texts.printable(v.length() > 40
                ? v.substring(0, 40) + "…" : v) + "'");
    }

    /** --name value pairs (and --name=value), and switches; anything else is refused by name. */
    static Map<String, String> flags(String[] args, List<String> valued, List<String> switches) {
        Map<String, String> m = new LinkedHashMap<>();
        List<String> rest = new ArrayList<>(Arrays.asList(args));
        for (int i = 0; i < rest.size(); i++) {
            String a = rest.get(i);
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            if (switches.contains(a)) {
                m.put(a, "true");
            } else if (valued.contains(name)) {
                String v = a.contains("=") ? a.substring(a.indexOf('=') + 1) : i + 1 < rest.size() ? rest.get(++i) : null;
                if (v == null) {
                    throw new Align4jException(name + " needs a value");
                }
                m.put(name, v);
            } else {
                throw new Align4jException("unknown option '" + Texts.printable(a.length() > 60 ? a.substring(0, 60) + "…" : a)
                        + "'; " + USAGE);
            }
        }
        return m;
    }
}
