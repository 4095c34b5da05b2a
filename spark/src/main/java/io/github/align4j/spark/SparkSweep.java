package io.github.align4j.spark;

import io.github.align4j.Align4jException;
import io.github.align4j.eval.Sweep;
import io.github.align4j.eval.SweepConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code align4j sweep} on a Spark cluster: every (cell, seed) run of the sweep file is one Spark task.
 * A task trains on the GPU Spark gave it ({@code TaskContext.resources()}, with
 * {@code spark.task.resource.gpu.amount=1}), else on the executor's CPUs; it writes the same folders as
 * {@code align4j sweep} under the sweep's {@code output_dir}, which every executor and the driver must
 * see (a shared file system). A task that Spark retries (lost executor, preemption) continues its run
 * from the run's newest checkpoint ({@code save_steps}). When every task is done, the driver writes
 * {@code results.csv}, {@code results_summary.csv}, {@code results.md}, the plots and
 * {@code report.html}: the same values as a local {@code align4j sweep} of the same file on the same
 * hardware.
 *
 * <pre>{@code
 * Sweep.Status s = SparkSweep.run(spark, SweepConfig.load(Path.of("/shared/scan.yaml")), 0);
 * }</pre>
 */
public final class SparkSweep {
    private static final Logger LOG = LoggerFactory.getLogger(SparkSweep.class);

    private SparkSweep() {}

    /**
     * Runs every unfinished run of the sweep as a Spark task, then writes the report on the driver.
     *
     * @param seeds runs per cell (0: the file's {@code seeds}, else 1)
     * @return the finished runs (all of them)
     * @throws Align4jException when the cluster lets two tasks share an executor, a path is not absolute on a
     *     cluster, or a run failed after Spark's retries
     */
    public static Sweep.Status run(SparkSession spark, SweepConfig sc, int seeds) {
        String master = spark.sparkContext().master();
        OneTrainingPerJvm.check(spark.sparkContext().getConf(), master);
        boolean local = master.startsWith("local");
        if (!local) {
            checkAbsolute(sc);
        }
        int perCell = seeds > 0 ? seeds : sc.seeds();
        int runs = sc.cells().size() * perCell;
        List<Integer> ids = new ArrayList<>(runs);
        for (int i = 0; i < runs; i++) {
            ids.add(i);
        }
        String out = sc.outputDir().toAbsolutePath().normalize().toString();
        RunTask task = new RunTask(sc.text(), sc.file().getFileName().toString(), out, perCell, runs);
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        spark.sparkContext().setJobDescription("align4j sweep " + sc.file().getFileName() + ": " + runs + " runs");
        long t = System.nanoTime();
        List<String> done;
        try {
            done = jsc.parallelize(ids, Math.max(1, runs)).map(task).collect();
        } catch (RuntimeException e) {
            throw new Align4jException("the sweep's Spark job failed (a run failed after Spark's retries; its executor's "
                    + "log has the reason): " + rootMessage(e), e);
        }
        done.forEach(d -> LOG.info("sweep: {}", d));
        LOG.info(String.format(Locale.ROOT, "sweep: %d runs in %.1f s on the cluster; writing the report", runs,
                (System.nanoTime() - t) / 1e9));
        Sweep.Status st = Sweep.report(sc.withOutputDir(out), perCell, LogStream.of(LOG, ""));
        if (!st.complete()) {
            throw new Align4jException("after the Spark job, runs are still missing: " + String.join(", ", st.missing()));
        }
        return st;
    }

    private static String rootMessage(Throwable e) {
        Throwable c = e;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        String m = String.valueOf(c.getMessage());
        return m.length() > 2000 ? m.substring(0, 2000) + "…" : m;
    }

    /** On a cluster every path is read by other machines' processes: a relative one would mean another folder there. */
    static void checkAbsolute(SweepConfig sc) {
        var b = sc.base();
        String[][] paths = {{"model_name_or_path", b.model().path()}, {"train_file", b.data().trainFile()},
                {"eval_file", b.data().evalFile()}, {"output_dir", b.output().dir()}, {"chat_template", b.data().chatTemplate()}};
        for (String[] p : paths) {
            if (!p[1].isBlank() && !Path.of(p[1]).isAbsolute()) {
                throw new Align4jException(sc.file() + ": " + p[0] + " '" + p[1] + "' is relative; on a cluster each executor "
                        + "starts in its own folder: give an absolute path on storage every machine sees (docs/distributed.md)");
            }
        }
    }

    /** One run of the sweep, in an executor: the same code as {@code align4j sweep --shard run/runs}. */
    static final class RunTask implements Function<Integer, String>, Serializable {
        private static final long serialVersionUID = 1L;
        private final String text;
        private final String fileName;
        private final String output;
        private final int seeds;
        private final int runs;

        RunTask(String text, String fileName, String output, int seeds, int runs) {
            this.text = text;
            this.fileName = fileName;
            this.output = output;
            this.seeds = seeds;
            this.runs = runs;
        }

        @Override
        public String call(Integer run) throws IOException {
            long t = System.nanoTime();
            TaskContext tc = TaskContext.get();
            String device = null;
            if (tc != null) {
                ResourceInformation gpu = tc.resourcesJMap().get("gpu");
                if (gpu != null && gpu.addresses().length > 0) {
                    device = "gpu:" + gpu.addresses()[0].trim();
                }
            }
            String where = String.format(Locale.ROOT, "executor pid %d%s%s", ProcessHandle.current().pid(),
                    tc == null ? "" : ", attempt " + tc.attemptNumber(), device == null ? "" : ", " + device);
            Logger log = LoggerFactory.getLogger(SparkSweep.class);
            log.info("sweep run {}/{} starts ({})", run, runs, where);
            Path dir = Files.createTempDirectory("align4j-sweep");
            Path file = dir.resolve(fileName);
            try {
                Files.writeString(file, text, StandardCharsets.UTF_8);
                SweepConfig sc = SweepConfig.load(file).withOutputDir(output);
                if (device != null) {
                    sc = sc.withDevice(device);
                }
                PrintStream console = LogStream.of(log, "run " + run + ": ");
                Sweep.Result r = Sweep.run(sc, seeds, new Sweep.Shard(run, runs), console);
                console.close();
                String cell = r.cells().isEmpty() ? "?" : r.cells().get(0).cell().id()
                        + (seeds == 1 ? "" : " seed " + r.cells().get(0).seed());
                return String.format(Locale.ROOT, "run %d %s: %s, %.1f s (%s)", run, cell,
                        !r.cells().isEmpty() && r.cells().get(0).reused() ? "reused" : "trained", (System.nanoTime() - t) / 1e9,
                        where);
            } finally {
                Files.deleteIfExists(file);
                Files.deleteIfExists(dir);
            }
        }
    }
}
