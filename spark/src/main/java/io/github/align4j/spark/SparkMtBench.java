package io.github.align4j.spark;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.Align4jException;
import io.github.align4j.eval.MtBench;
import io.github.align4j.internal.Devices;
import io.github.align4j.internal.Texts;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * MT-Bench answers of many models on a Spark cluster: one task per model (a base folder plus an
 * optional LoRA adapter, e.g. the 30 cells of a LoRA sweep), each writing
 * {@code OUTPUT/model_answer/<model_id>.jsonl} under a shared output folder exactly as
 * {@code align4j mt-bench --answers-only} does ({@link MtBench#writeAnswers}: the same questions,
 * temperatures and seeds, so the same answers on the same hardware; a retried task completes the
 * file its lost executor left). Judge them afterwards with {@code align4j mt-bench --answers FILE}.
 * An executor JVM answers with one model at a time (tasks that share it take turns), on the task's
 * GPU when Spark gave it one.
 *
 * <pre>{@code
 * List<SparkMtBench.Model> models = SparkMtBench.readModels(Path.of("/shared/models.jsonl"));
 * SparkMtBench.Summary s = SparkMtBench.run(spark, new SparkMtBench.Job(models, "/shared/mt_bench", 1024, 0, null, 42));
 * }</pre>
 */
public final class SparkMtBench {
    private static final Logger LOG = LoggerFactory.getLogger(SparkMtBench.class);
    /** Longest line of a models file. */
    static final int MAX_LINE = 64 * 1024;
    /** Most models in one job. */
    static final int MAX_MODELS = 10_000;
    /** One model per executor JVM at a time. */
    private static final Object ONE_MODEL = new Object();

    private SparkMtBench() {}

    /**
     * One model: a Hugging Face folder and an optional PEFT LoRA adapter applied to it (paths every executor
     * sees); {@code id} names its answers file (null: as {@code align4j mt-bench} names it, after the adapter's
     * folder, or its parent's for {@code final}, else the model's).
     */
    public record Model(String id, String model, String adapter) implements Serializable {
        private static final long serialVersionUID = 1L;

        public Model {
            if (model == null || model.isBlank()) {
                throw new Align4jException("a model needs its folder (\"model\")");
            }
        }
    }

    /**
     * The job: the models and the options of {@code align4j mt-bench --answers-only} (defaults there: 1024 new
     * tokens, all questions, seed 42).
     *
     * @param output the folder under which {@code model_answer/} is written (shared by every executor)
     * @param questions only the first N questions (0: all 80)
     * @param questionIds only these question ids (null or empty: as {@code questions} says)
     */
    public record Job(List<Model> models, String output, int maxNewTokens, int questions, List<Integer> questionIds,
            long seed) implements Serializable {
        private static final long serialVersionUID = 1L;

        public Job {
            models = List.copyOf(models);
            questionIds = questionIds == null ? List.of() : List.copyOf(questionIds);
            if (models.isEmpty()) {
                throw new Align4jException("generate --mt-bench: no models");
            }
            if (output == null || output.isBlank()) {
                throw new Align4jException("generate --mt-bench: --output DIR is required");
            }
            if (maxNewTokens < 1) {
                throw new Align4jException("--max-new-tokens must be ≥ 1, got " + maxNewTokens);
            }
        }

        /** The options of {@code align4j mt-bench --answers-only} for model i, on {@code device}. */
        MtBench.Options options(int i, Device device) {
            Model m = models.get(i);
            return MtBench.Options.forModel(Path.of(m.model())).adapter(m.adapter() == null ? null : Path.of(m.adapter()))
                    .modelId(m.id()).output(Path.of(output)).maxNewTokens(maxNewTokens).questionLimit(questions)
                    .questionIds(questionIds.isEmpty() ? null : questionIds).seed(seed).device(device);
        }
    }

    /** What the job wrote: one answers file per model, in the models' order. */
    public record Summary(List<Path> files, double seconds) {}

    /**
     * Answers every model's questions, one Spark task per model.
     *
     * @throws Align4jException for two models with one answers file, a relative path on a cluster, speculation
     *     on (two copies of a task would write one file), or a model that failed after Spark's retries
     */
    public static Summary run(SparkSession spark, Job job) {
        String master = spark.sparkContext().master();
        if (spark.sparkContext().getConf().getBoolean("spark.speculation", false)) {
            throw new Align4jException("spark.speculation is on: a speculative copy of a task would write the same answers "
                    + "file at the same time; set spark.speculation=false");
        }
        check(job, master.startsWith("local"));
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < job.models().size(); i++) {
            files.add(MtBench.answersFile(job.options(i, Device.cpu())).toAbsolutePath().normalize());
        }
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < job.models().size(); i++) {
            idx.add(i);
        }
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        spark.sparkContext().setJobDescription("align4j generate --mt-bench: " + job.models().size() + " models");
        long t = System.nanoTime();
        List<String> done;
        try {
            done = jsc.parallelize(idx, idx.size()).map(new AnswerTask(job)).collect();
        } catch (RuntimeException e) {
            throw new Align4jException("the MT-Bench answers job failed (a model failed after Spark's retries; its executor's "
                    + "log has the reason): " + rootMessage(e), e);
        }
        done.forEach(d -> LOG.info("generate --mt-bench: {}", d));
        for (Path f : files) {
            if (!Files.isRegularFile(f)) {
                throw new Align4jException(f + ": the executors wrote it, but the driver does not see it; --output must be "
                        + "a folder every machine shares (docs/distributed.md)");
            }
        }
        return new Summary(List.copyOf(files), (System.nanoTime() - t) / 1e9);
    }

    /** Answers files must differ; on a cluster every path must be absolute (each executor starts in its own folder). */
    static void check(Job job, boolean local) {
        Map<String, Integer> byFile = new HashMap<>();
        for (int i = 0; i < job.models().size(); i++) {
            Model m = job.models().get(i);
            if (!local) {
                for (String[] p : new String[][] {{"model", m.model()}, {"adapter", m.adapter()}}) {
                    if (p[1] != null && !Path.of(p[1]).isAbsolute()) {
                        throw new Align4jException("model " + (i + 1) + ": " + p[0] + " '" + Texts.printable(p[1]) + "' is "
                                + "relative; on a cluster each executor starts in its own folder: give an absolute path on "
                                + "storage every machine sees (docs/distributed.md)");
                    }
                }
            }
            String name = MtBench.answersFile(job.options(i, Device.cpu())).getFileName().toString();
            Integer other = byFile.putIfAbsent(name.toLowerCase(Locale.ROOT), i);
            if (other != null) {
                throw new Align4jException("models " + (other + 1) + " and " + (i + 1) + " would both write model_answer/"
                        + Texts.printable(name) + "; give them different \"model_id\"s");
            }
        }
        if (!local && !Path.of(job.output()).isAbsolute()) {
            throw new Align4jException("--output '" + Texts.printable(job.output()) + "' is relative; on a cluster give an "
                    + "absolute path every machine shares");
        }
    }

    private static final Set<String> KEYS = Set.of("model_id", "model", "adapter");

    /**
     * The models of a JSON Lines file, one per line: {@code {"model_id": "dpo-beta0.1", "model": "/shared/base",
     * "adapter": "/shared/scan/cells/dpo-beta0.1/final"}} ({@code model_id} and {@code adapter} optional; blank
     * lines skipped). Read with bounds; a bad line is refused naming it.
     */
    public static List<Model> readModels(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new Align4jException("--models " + file + ": no such file (JSON Lines: {\"model_id\": ..., \"model\": DIR, "
                    + "\"adapter\": DIR} per line)");
        }
        List<Model> out = new ArrayList<>();
        JsonLines.read(file, MAX_LINE, (where, n) -> {
            if (n == null || !n.isObject()) {
                throw new Align4jException(where + ": expected an object {\"model_id\": ..., \"model\": DIR, \"adapter\": DIR}");
            }
            for (Iterator<String> it = n.fieldNames(); it.hasNext();) {
                String k = it.next();
                if (!KEYS.contains(k)) {
                    String shown = Texts.printable(k.length() > 40 ? k.substring(0, 40) + "…" : k);
                    throw new Align4jException(where + ": unknown key '" + shown + "'; the keys are model_id, model, adapter");
                }
                if (!n.get(k).isTextual() && !n.get(k).isNull()) {
                    throw new Align4jException(where + ": \"" + k + "\" must be a text");
                }
            }
            if (!n.path("model").isTextual() || n.get("model").asText().isBlank()) {
                throw new Align4jException(where + ": no \"model\" (the model folder, or the base of \"adapter\")");
            }
            if (out.size() >= MAX_MODELS) {
                throw new Align4jException(file + ": more than " + MAX_MODELS + " models; split the file");
            }
            out.add(new Model(text(n, "model_id"), n.get("model").asText(), text(n, "adapter")));
        });
        if (out.isEmpty()) {
            throw new Align4jException(file + ": no models");
        }
        return out;
    }

    private static String text(JsonNode n, String key) {
        JsonNode v = n.get(key);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static String rootMessage(Throwable e) {
        Throwable c = e;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        String m = String.valueOf(c.getMessage());
        return m.length() > 2000 ? m.substring(0, 2000) + "…" : m;
    }

    /** One model's answers, in an executor: {@code align4j mt-bench --answers-only}'s code. */
    static final class AnswerTask implements Function<Integer, String>, Serializable {
        private static final long serialVersionUID = 1L;
        private final Job job;

        AnswerTask(Job job) {
            this.job = job;
        }

        @Override
        public String call(Integer i) {
            TaskContext tc = TaskContext.get();
            Device device = Devices.resolve("cpu");
            if (tc != null) {
                ResourceInformation gpu = tc.resourcesJMap().get("gpu");
                if (gpu != null && gpu.addresses().length > 0) {
                    device = Devices.resolve("gpu:" + gpu.addresses()[0].trim());
                }
            }
            MtBench.Options o = job.options(i, device);
            synchronized (ONE_MODEL) { // one model per executor JVM at a time: tasks that share it take turns
                long t = System.nanoTime();
                LOG.info("generate --mt-bench: model {}/{} starts (executor pid {}, attempt {}) on {}", i + 1,
                        job.models().size(), ProcessHandle.current().pid(), tc == null ? 0 : tc.attemptNumber(), device);
                Path f = MtBench.writeAnswers(o, line -> LOG.info("  {}", Texts.printable(line)));
                return String.format(Locale.ROOT, "model %d/%d: %s in %.1f s", i + 1, job.models().size(), f,
                        (System.nanoTime() - t) / 1e9);
            }
        }
    }
}
