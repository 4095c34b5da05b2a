package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * {@code align4j} in a child JVM (the test class path, offline), for what only a separate process
 * can show: SIGKILL at any moment, SIGINT and SIGTERM.
 */
final class ChildRun {
    /** What decides libtorch's reduction order and SIMD rounding besides the inputs. */
    static final List<String> THREADS = List.of("ai.djl.pytorch.num_threads", "ai.djl.pytorch.num_interop_threads");
    static final String KERNELS = "ATEN_CPU_CAPABILITY";

    final Process process;
    final Path log;

    private ChildRun(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /**
     * Starts the child with this JVM's libtorch thread counts and CPU kernels (ATEN_CPU_CAPABILITY), so that
     * its runs round exactly as one in this JVM does: bit-identity holds only for the same threads and kernels.
     */
    static ChildRun start(Path log, List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dai.djl.offline=true", "-Xmx1g", "-XX:TieredStopAtLevel=1", "-Xshare:auto"));
        for (String p : THREADS) {
            if (System.getProperty(p) != null) {
                cmd.add("-D" + p + "=" + System.getProperty(p));
            }
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.github.align4j.cli.Main"));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("OPT_OUT_TRACKING", "true");
        if (System.getenv(KERNELS) != null) {
            pb.environment().put(KERNELS, System.getenv(KERNELS));
        } else {
            pb.environment().remove(KERNELS);
        }
        return new ChildRun(pb.start(), log);
    }

    String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    /** Waits (polling every 10 ms) until the condition holds; false when the process ended first. */
    boolean await(BooleanSupplier condition, long timeoutMillis) throws InterruptedException {
        long end = System.currentTimeMillis() + timeoutMillis;
        while (System.currentTimeMillis() < end) {
            if (condition.getAsBoolean()) {
                return true;
            }
            if (!process.isAlive()) {
                return condition.getAsBoolean();
            }
            Thread.sleep(10);
        }
        throw new AssertionError("timed out after " + timeoutMillis + " ms; child output:\n" + output());
    }

    int exit(long timeoutSeconds) throws InterruptedException {
        if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("the child did not exit in " + timeoutSeconds + " s; output:\n" + output());
        }
        return process.exitValue();
    }

    void signal(String name) throws Exception {
        Process k = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
        assertEquals(0, k.waitFor(), "kill -" + name);
    }

    /** The newest checkpoint-N folder's N in out (−1 when none). */
    static long newestCheckpoint(Path out) {
        if (!Files.isDirectory(out)) {
            return -1;
        }
        try (Stream<Path> s = Files.list(out)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.matches("checkpoint-\\d+"))
                    .mapToLong(n -> Long.parseLong(n.substring("checkpoint-".length()))).max().orElse(-1);
        } catch (IOException e) {
            return -1; // listed while a rename happened: ask again
        }
    }

    /** metrics.jsonl without the timing fields (which differ from run to run). */
    static List<ObjectNode> metrics(Path out) throws IOException {
        List<ObjectNode> m = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            ObjectNode n = (ObjectNode) new ObjectMapper().readTree(l);
            n.remove(List.of("tokens_per_second", "elapsed_s"));
            m.add(n);
        }
        return m;
    }

    /** A tiny llama (hidden 16, one layer, the built-in tokenizer) and ten pairs to train it on. */
    record Tiny(Path model, Path data, Path cache) {
        static Tiny make(Path dir) throws IOException {
            Path cfg = dir.resolve("cfg.json");
            Files.writeString(cfg, "{\"hidden_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
                    + "\"num_key_value_heads\": 1, \"intermediate_size\": 32}");
            Path model = dir.resolve("model");
            Cli.Result r = Cli.run("init", "--model-type", "llama", "--config", cfg.toString(), "--out", model.toString(),
                    "--seed", "3");
            assertEquals(0, r.exit(), r.toString());
            return new Tiny(model, pairs(dir.resolve("pairs.jsonl"), 10), dir.resolve("cache"));
        }

        /** DPO at a constant learning rate, a log line per step; no periodic checkpoints. */
        List<String> args(Path out, int steps) {
            return new ArrayList<>(List.of("train", "--model", model.toString(), "--data", data.toString(), "--loss", "dpo",
                    "--beta", "0.1", "--lr", "3e-3", "--lr-scheduler", "constant", "--batch-size", "2", "--max-steps",
                    Integer.toString(steps), "--seed", "5", "--logging-steps", "1", "--max-length", "64",
                    "--max-prompt-length", "32", "--output", out.toString(), "--cache-dir", cache.toString()));
        }
    }

    /** Data a tiny model can train on: n pairs of short English text. */
    static Path pairs(Path file, int n) throws IOException {
        StringBuilder sb = new StringBuilder();
        String[] words = {"apple", "river", "stone", "cloud", "green", "quick", "seven", "light", "paper", "sound"};
        for (int i = 0; i < n; i++) {
            String w = words[i % words.length];
            String v = words[(i * 3 + 1) % words.length];
            sb.append("{\"prompt\": \"Say ").append(w).append(" ").append(i).append(".\", \"chosen\": \"")
                    .append(w).append(" ").append(v).append(" yes.\", \"rejected\": \"No ").append(v).append(".\"}\n");
        }
        Files.writeString(file, sb.toString());
        return file;
    }
}
