package io.github.align4j.spark;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.internal.Devices;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.SequenceScorer;
import io.github.align4j.model.TextTokenizer;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code align4j logprobs} on a Spark cluster: the reference's completion log-probabilities of every row,
 * scored data-parallel. The driver reads the data once (filling the tokenized cache); each task reads it
 * from that cache and scores its share of the rows, longest first in batches of similar lengths, with
 * one model per executor JVM, loaded once and reused by every task there (on the GPU Spark gave the task,
 * else the CPU). The driver writes one JSON line per source row, in order, with TRL's precompute columns
 * ({@code ref_chosen_logps}, {@code ref_rejected_logps}, or {@code ref_logps} for unpaired rows) and the
 * token counts; {@code align4j train --ref-logps FILE} ({@code ref_logps_file}) takes it as the reference
 * pass. The values are {@code align4j logprobs}'s on the same rows.
 */
public final class SparkLogprobs {
    private static final Logger LOG = LoggerFactory.getLogger(SparkLogprobs.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private SparkLogprobs() {}

    /**
     * What to score (paths as text: every executor reads them, so on a cluster they are absolute and shared).
     *
     * @param model the model folder
     * @param adapter a LoRA adapter folder applied to it, or null
     * @param data the rows (any file, folder or glob align4j reads)
     * @param batchSize rows per forward pass
     * @param maxLength most tokens of prompt + completion (TRL's max_length; 0: no limit)
     * @param maxPromptLength most prompt tokens (0: no limit)
     * @param applyChatTemplate render plain-text rows through the chat template too
     * @param cacheDir the tokenized-data cache, on storage every executor sees (null: align4j's default)
     * @param skipBadRows skip and count malformed rows (their lines get nulls) instead of stopping at the first
     */
    public record Job(String model, String adapter, String data, int batchSize, int maxLength, int maxPromptLength,
            boolean applyChatTemplate, String cacheDir, boolean skipBadRows) implements Serializable {
        private static final long serialVersionUID = 1L;

        /** TRL's defaults: 1024 / 512 tokens, batches of 8 rows. */
        public static Job of(String model, String data) {
            return new Job(model, null, data, 8, 1024, 512, false, null, false);
        }

        DataOptions options() {
            DataOptions o = DataOptions.defaults().withMaxLength(maxLength).withMaxPromptLength(maxPromptLength)
                    .withApplyChatTemplate(applyChatTemplate).withSkipBadRows(skipBadRows);
            return cacheDir == null ? o : o.withCacheRoot(Path.of(cacheDir));
        }

        Path modelDir() {
            return Path.of(model);
        }
    }

    /** What a run did. */
    public record Summary(long rowsRead, long scored, double seconds, int tasks) {
        public double rowsPerSecond() {
            return scored / Math.max(1e-9, seconds);
        }
    }

    /** Scores every row on the cluster and writes the JSON lines to {@code out} (a temporary file, then moved). */
    public static Summary run(SparkSession spark, Job job, Path out) {
        if (job.batchSize() < 1) {
            throw new Align4jException("--batch-size must be at least 1, got " + job.batchSize());
        }
        long t0 = System.nanoTime();
        // the driver reads the data once: the count of source rows, and the tokenized cache the executors read
        PreferenceData data;
        ModelConfig mc = ModelConfig.load(job.modelDir());
        try (TextTokenizer tok = TextTokenizer.load(job.modelDir(), mc.eosTokenId())) {
            data = PreferenceData.load(job.data(), job.options(), tok);
        }
        int n = data.size();
        int batches = (n + job.batchSize() - 1) / job.batchSize();
        int tasks = Math.max(1, Math.min(batches, spark.sparkContext().defaultParallelism()));
        List<Integer> parts = new ArrayList<>();
        for (int i = 0; i < tasks; i++) {
            parts.add(i);
        }
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        spark.sparkContext().setJobDescription("align4j logprobs " + job.data() + ": " + n + " rows");
        long t1 = System.nanoTime();
        List<double[]> scored = jsc.parallelize(parts, tasks).flatMap(new ScoreTask(job, tasks)).collect();
        double seconds = (System.nanoTime() - t1) / 1e9;
        double[][] byExample = new double[n][];
        for (double[] s : scored) {
            byExample[(int) s[0]] = s;
        }
        long[] rows = new long[n];
        for (int i = 0; i < n; i++) {
            if (byExample[i] == null) {
                throw new Align4jException("the logprobs job returned no score for row " + i + "; rerun it");
            }
            rows[i] = data.paired() ? data.pairs().get(i).row() : data.unpaired().get(i).row();
        }
        write(out, data.paired(), rows, byExample, data.stats().rowsRead());
        LOG.info(String.format(Locale.ROOT, "logprobs: %d of %d rows scored by %d tasks in %.1f s (%.1f rows/s; %.1f s in "
                + "all); wrote %s", n, data.stats().rowsRead(), tasks, seconds, n / Math.max(1e-9, seconds),
                (System.nanoTime() - t0) / 1e9, out));
        return new Summary(data.stats().rowsRead(), n, seconds, tasks);
    }

    /** One line per source row, dropped rows with nulls and "dropped": true (the layout of align4j logprobs). */
    private static void write(Path out, boolean paired, long[] rows, double[][] s, long lines) {
        Path abs = out.toAbsolutePath();
        try {
            Files.createDirectories(abs.getParent());
            Path tmp = Files.createTempFile(abs.getParent(), "." + abs.getFileName(), ".tmp");
            try {
                try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                    int next = 0;
                    for (long r = 0; r < lines; r++) {
                        ObjectNode o = JSON.createObjectNode();
                        boolean have = next < rows.length && rows[next] == r;
                        double[] v = have ? s[next++] : null;
                        if (paired) {
                            put(o, "ref_chosen_logps", v, 1);
                            put(o, "ref_rejected_logps", v, 2);
                            o.put("chosen_tokens", v == null ? 0 : (int) v[3]);
                            o.put("rejected_tokens", v == null ? 0 : (int) v[4]);
                        } else {
                            put(o, "ref_logps", v, 1);
                            o.put("tokens", v == null ? 0 : (int) v[3]);
                        }
                        if (v == null) {
                            o.put("dropped", true);
                        }
                        w.write(JSON.writeValueAsString(o));
                        w.write('\n');
                    }
                }
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new Align4jException(out + ": cannot write the log-probs: " + e.getMessage(), e);
        }
    }

    private static void put(ObjectNode o, String key, double[] v, int i) {
        if (v == null) {
            o.putNull(key);
        } else {
            o.put(key, (float) v[i]);
        }
    }

    /** Models loaded in this executor JVM, by folder, adapter and device: loaded once, reused by every task here. */
    private static CausalLM model(Job job, Device device) {
        return ExecutorModels.get(job.model(), job.adapter(), device, "logprobs");
    }

    /** One task: batches j with j mod tasks = its index; returns {example, logp0, logp1, tokens0, tokens1} per row. */
    static final class ScoreTask implements FlatMapFunction<Integer, double[]> {
        private static final long serialVersionUID = 1L;
        private final Job job;
        private final int tasks;

        ScoreTask(Job job, int tasks) {
            this.job = job;
            this.tasks = tasks;
        }

        @Override
        public Iterator<double[]> call(Integer part) {
            TaskContext tc = TaskContext.get();
            Device device = Devices.resolve("cpu");
            if (tc != null) {
                ResourceInformation gpu = tc.resourcesJMap().get("gpu");
                if (gpu != null && gpu.addresses().length > 0) {
                    device = Devices.resolve("gpu:" + gpu.addresses()[0].trim());
                }
            }
            ModelConfig mc = ModelConfig.load(job.modelDir());
            PreferenceData data;
            try (TextTokenizer tok = TextTokenizer.load(job.modelDir(), mc.eosTokenId())) {
                data = PreferenceData.load(job.data(), job.options(), tok);
            }
            // align4j logprobs's batches exactly (all rows longest first, cut into batches of batchSize), so that
            // every value is computed in the same forward pass as there: batch j is task (j mod tasks)'s
            List<int[][]> all = new ArrayList<>(data.size()); // {prompt, completion0, completion1?, {example}}
            for (int i = 0; i < data.size(); i++) {
                if (data.paired()) {
                    TokenizedPair p = data.pairs().get(i);
                    all.add(new int[][] {p.prompt(), p.chosen(), p.rejected(), {i}});
                } else {
                    TokenizedUnpaired u = data.unpaired().get(i);
                    all.add(new int[][] {u.prompt(), u.completion(), null, {i}});
                }
            }
            all.sort(Comparator.comparingInt((int[][] x) -> -(x[0].length + Math.max(x[1].length,
                    x[2] == null ? 0 : x[2].length))).thenComparingInt(x -> x[3][0]));
            List<int[][]> mine = new ArrayList<>();
            for (int from = part * job.batchSize(); from < all.size(); from += tasks * job.batchSize()) {
                mine.addAll(all.subList(from, Math.min(all.size(), from + job.batchSize())));
            }
            CausalLM lm = model(job, device);
            int k = data.paired() ? 2 : 1;
            List<double[]> out = new ArrayList<>(mine.size());
            for (int from = 0; from < mine.size(); from += job.batchSize()) {
                int b = Math.min(job.batchSize(), mine.size() - from);
                int[][] seqs = new int[b * k][];
                int[] starts = new int[b * k];
                for (int r = 0; r < b; r++) {
                    int[][] x = mine.get(from + r);
                    for (int j = 0; j < k; j++) {
                        int[] c = x[1 + j];
                        int[] s = Arrays.copyOf(x[0], x[0].length + c.length);
                        System.arraycopy(c, 0, s, x[0].length, c.length);
                        seqs[j * b + r] = s;
                        starts[j * b + r] = x[0].length;
                    }
                }
                float[] lp;
                float[] tk;
                synchronized (lm) { // one forward at a time per model (tasks of one executor share it)
                    try (NDManager m = lm.manager().newSubManager()) {
                        SequenceScorer.Scores sc = SequenceScorer.score(lm, m, seqs, starts);
                        lp = sc.logps().toFloatArray();
                        tk = sc.tokens().toFloatArray();
                    }
                }
                for (int r = 0; r < b; r++) {
                    double[] v = new double[5];
                    v[0] = mine.get(from + r)[3][0];
                    for (int j = 0; j < k; j++) {
                        if (!Float.isFinite(lp[j * b + r])) {
                            throw new Align4jException(job.model() + ": the model gives non-finite log-probabilities "
                                    + "(damaged weights or an overflow in its precision)");
                        }
                        v[1 + j] = lp[j * b + r];
                        v[3 + j] = Math.round(tk[j * b + r]);
                    }
                    out.add(v);
                }
            }
            return out.iterator();
        }
    }
}
