package io.github.align4j.spark;

import io.github.align4j.Align4jException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.SparkConf;

/**
 * align4j trains one run at a time per JVM (DJL's gradient collector is one per process), so a
 * training job must never let two tasks share an executor: with GPUs, one GPU per executor and per
 * task; on CPUs, {@code spark.task.cpus} equal to {@code spark.executor.cores}. Speculation would run
 * a cell twice at once, so it is refused too.
 */
final class OneTrainingPerJvm {
    private OneTrainingPerJvm() {}

    private static final Pattern LOCAL = Pattern.compile("local(?:\\[(\\*|\\d+)(?:\\s*,\\s*\\d+)?\\])?");

    /** Refuses, naming the setting to change, a configuration in which two training tasks could share an executor JVM. */
    static void check(SparkConf conf, String master) {
        String fix = "align4j trains one run per JVM, so each executor must run one task at a time: ";
        if (conf.getBoolean("spark.speculation", false)) {
            throw new Align4jException("spark.speculation is on: a speculative copy of a task would train the same cell "
                    + "in a second JVM at the same time; set spark.speculation=false");
        }
        Matcher m = LOCAL.matcher(master == null ? "" : master.trim());
        if (m.matches()) {
            String n = m.group(1);
            if (n != null && !n.equals("1")) {
                throw new Align4jException("master " + master + " runs " + ("*".equals(n) ? "one task per core" : n
                        + " tasks") + " in this one JVM; " + fix + "use local[1] (or local[1,4] for retries), or a cluster");
            }
            return;
        }
        if (master != null && master.startsWith("local-cluster")) {
            return; // Spark's own test clusters: cores per worker are in the master URL
        }
        double taskGpus = conf.getDouble("spark.task.resource.gpu.amount", 0);
        if (taskGpus > 0) {
            if (taskGpus != 1) {
                throw new Align4jException(String.format(Locale.ROOT, "spark.task.resource.gpu.amount is %s: a training task "
                        + "takes one whole GPU; set spark.task.resource.gpu.amount=1", conf.get("spark.task.resource.gpu.amount")));
            }
            long executorGpus = conf.getLong("spark.executor.resource.gpu.amount", 0);
            if (executorGpus != 1) {
                throw new Align4jException("spark.executor.resource.gpu.amount is " + (executorGpus == 0 ? "not set" : executorGpus)
                        + "; " + fix + "set spark.executor.resource.gpu.amount=1 with spark.task.resource.gpu.amount=1 "
                        + "(one executor per GPU)");
            }
            return;
        }
        String cores = conf.get("spark.executor.cores", null);
        int taskCpus = conf.getInt("spark.task.cpus", 1);
        if (cores == null) {
            throw new Align4jException("spark.executor.cores is not set (a standalone executor then takes every core of its "
                    + "worker and runs as many tasks at once); " + fix + "set spark.executor.cores=N and spark.task.cpus=N "
                    + "(e.g. --conf spark.executor.cores=4 --conf spark.task.cpus=4), or give each task a GPU "
                    + "(spark.executor.resource.gpu.amount=1, spark.task.resource.gpu.amount=1)");
        }
        int c = Integer.parseInt(cores.trim());
        if (c / Math.max(1, taskCpus) > 1) {
            throw new Align4jException("spark.executor.cores is " + c + " and spark.task.cpus " + taskCpus + ": " + c / taskCpus
                    + " tasks could share an executor; " + fix + "set spark.task.cpus=" + c + " (or spark.executor.cores="
                    + taskCpus + ")");
        }
    }
}
