package io.github.align4j.spark;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.eval.Sweep;
import io.github.align4j.eval.SweepConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sweep job in Spark's local mode (local[1], in this JVM): the same results as align4j sweep, and its refusals. */
class SparkSweepTest {
    @Test
    void sparkSweepGivesTheLocalSweepsResults(@TempDir Path dir) throws Exception {
        Path model = Tiny.model(dir.resolve("model"));
        Path data = Tiny.pairs(dir.resolve("pairs.jsonl"), 24, 3);
        Path onSpark = Tiny.sweepFile(dir.resolve("spark.yaml"), model, data, dir.resolve("spark"), 3, 0);
        Path local = Tiny.sweepFile(dir.resolve("local.yaml"), model, data, dir.resolve("local"), 3, 0);
        SparkSession spark = SparkSession.builder().master("local[1]").appName("align4j-test")
                .config("spark.ui.enabled", false).config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
        Sweep.Status st;
        try {
            st = SparkSweep.run(spark, SweepConfig.load(onSpark), 0);
        } finally {
            spark.stop();
        }
        assertTrue(st.complete());
        assertEquals(4, st.finished().cells().size());
        Sweep.run(SweepConfig.load(local), 0, null);
        List<String> expected = Tiny.withoutSeconds(dir.resolve("local/results.csv"));
        assertEquals(5, expected.size());
        assertTrue(expected.get(0).startsWith("algorithm,beta,pref_accuracy,"), expected.get(0));
        assertEquals(expected, Tiny.withoutSeconds(dir.resolve("spark/results.csv")));
        for (String f : List.of("results_summary.csv", "results.md", "report.html", "cells/ipo-beta0.5/result.json")) {
            assertTrue(Files.isRegularFile(dir.resolve("spark").resolve(f)), f);
        }
    }

    @Test
    void twoTrainingsInOneExecutorAreRefusedWithTheSettingToChange() {
        SparkConf c = new SparkConf(false);
        assertDoesNotThrow(() -> OneTrainingPerJvm.check(c, "local[1]"));
        assertDoesNotThrow(() -> OneTrainingPerJvm.check(c, "local"));
        assertDoesNotThrow(() -> OneTrainingPerJvm.check(c, "local[1,4]"));
        assertTrue(assertThrows(Align4jException.class, () -> OneTrainingPerJvm.check(c, "local[2]")).getMessage()
                .contains("use local[1]"));
        assertTrue(assertThrows(Align4jException.class, () -> OneTrainingPerJvm.check(c, "local[*]")).getMessage()
                .contains("one task per core"));
        String m = assertThrows(Align4jException.class, () -> OneTrainingPerJvm.check(c, "spark://127.0.0.1:7077"))
                .getMessage();
        assertTrue(m.contains("spark.executor.cores is not set"), m);
        SparkConf four = new SparkConf(false).set("spark.executor.cores", "4");
        m = assertThrows(Align4jException.class, () -> OneTrainingPerJvm.check(four, "yarn")).getMessage();
        assertTrue(m.contains("set spark.task.cpus=4"), m);
        assertDoesNotThrow(() -> OneTrainingPerJvm.check(four.clone().set("spark.task.cpus", "4"), "yarn"));
        assertDoesNotThrow(() -> OneTrainingPerJvm.check(new SparkConf(false).set("spark.executor.cores", "1"), "yarn"));
        SparkConf gpus = new SparkConf(false).set("spark.task.resource.gpu.amount", "1")
                .set("spark.executor.resource.gpu.amount", "2");
        m = assertThrows(Align4jException.class, () -> OneTrainingPerJvm.check(gpus, "k8s://https://h")).getMessage();
        assertTrue(m.contains("spark.executor.resource.gpu.amount=1"), m);
        assertDoesNotThrow(() -> OneTrainingPerJvm.check(gpus.clone().set("spark.executor.resource.gpu.amount", "1"),
                "k8s://https://h"));
        m = assertThrows(Align4jException.class, () -> OneTrainingPerJvm.check(new SparkConf(false)
                .set("spark.task.resource.gpu.amount", "0.5"), "yarn")).getMessage();
        assertTrue(m.contains("one whole GPU"), m);
        m = assertThrows(Align4jException.class, () -> OneTrainingPerJvm.check(new SparkConf(false)
                .set("spark.speculation", "true"), "local[1]")).getMessage();
        assertTrue(m.contains("spark.speculation=false"), m);
    }

    @Test
    void relativePathsAreRefusedOnACluster(@TempDir Path dir) throws Exception {
        Path yaml = dir.resolve("rel.yaml");
        Files.writeString(yaml, "model_name_or_path: models/tiny\ntrain_file: /data/p.jsonl\noutput_dir: /out\n"
                + "grid:\n  beta: [0.1]\n");
        String m = assertThrows(Align4jException.class, () -> SparkSweep.checkAbsolute(SweepConfig.load(yaml))).getMessage();
        assertTrue(m.contains("model_name_or_path 'models/tiny' is relative"), m);
    }

    @Test
    void mainNamesUnknownCommandsAndOptions() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        assertEquals(2, Main.run(new String[] {"sweep", "--config"}, System.out, e));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("--config needs a value"), err.toString(StandardCharsets.UTF_8));
        err.reset();
        assertEquals(2, Main.run(new String[] {"sweep", "--bogus\u001b[31m"}, System.out, e));
        String s = err.toString(StandardCharsets.UTF_8);
        assertTrue(s.contains("unknown option '--bogus\\u001b[31m'"), s);
        err.reset();
        assertEquals(2, Main.run(new String[] {"train"}, System.out, e));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("unknown command 'train'"));
    }
}
