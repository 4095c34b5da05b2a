package io.github.align4j.cli;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.align4j.internal.Devices;
import io.github.align4j.model.CausalLM;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code align4j load-stats} (hidden): how much Java heap and resident memory loading a
 * checkpoint takes, for the README's "Memory" section. Run it in its own JVM with a small heap
 * ({@code java -Xmx256m -jar target/align4j.jar load-stats --model DIR}) to show that a frozen model
 * lives outside the heap, memory-mapped.
 */
@Command(name = "load-stats", hidden = true, mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class,
        description = "Print heap and resident memory before and after loading a model (for the README's Memory section).")
final class LoadStatsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "A model folder.")
    Path model;

    @Option(names = "--trainable", description = "Load as a policy (own copy of the weights) instead of frozen (memory-mapped).")
    boolean trainable;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|gpu|auto", description = "Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--forward", defaultValue = "0", paramLabel = "T",
            description = "Then run one forward pass over T tokens (touches every weight); default 0: skip.")
    int forward;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        CliSupport.existingDir(model, "--model", "a model folder");
        Device dev = Devices.resolve(device);
        long bytes;
        try (Stream<Path> s = Files.list(model)) {
            bytes = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    return 0;
                }
            }).sum();
        }
        ai.djl.engine.Engine.getInstance(); // start the engine first so that its own memory is in "before"
        out.printf(Locale.ROOT, "model %s: %.1f MiB of safetensors; %s load on %s; max heap %.0f MiB%n", model,
                mib(bytes), trainable ? "trainable" : "frozen", dev, mib(Runtime.getRuntime().maxMemory()));
        report(out, "before load");
        long t0 = System.nanoTime();
        try (CausalLM lm = CausalLM.load(model, new CausalLM.Options(dev, trainable, DataType.FLOAT32))) {
            double secs = (System.nanoTime() - t0) / 1e9;
            out.printf(Locale.ROOT, "loaded %,d parameters in %.2f s%n", lm.parameterCount(), secs);
            report(out, "after load");
            if (forward > 0) {
                t0 = System.nanoTime();
                try (NDManager m = lm.manager().newSubManager()) {
                    long[] ids = new long[forward];
                    for (int i = 0; i < forward; i++) {
                        ids[i] = i % lm.config().vocabSize();
                    }
                    NDArray logits = lm.logits(m.create(ids, new Shape(1, forward)));
                    float check = logits.sum().getFloat();
                    out.printf(Locale.ROOT, "forward pass over %d tokens in %.2f s (logit sum %.3g)%n", forward,
                            (System.nanoTime() - t0) / 1e9, check);
                }
                report(out, "after forward");
            }
        }
        out.flush();
        return CliSupport.EXIT_OK;
    }

    private static void report(PrintWriter out, String when) {
        System.gc();
        long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        out.printf(Locale.ROOT, "%-14s heap used %7.1f MiB   VmRSS %8s   VmHWM (peak RSS) %8s%n", when + ":", mib(heap),
                status("VmRSS"), status("VmHWM"));
    }

    /** A field of /proc/self/status in MiB, or "n/a" off Linux. */
    private static String status(String key) {
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/self/status"));
            for (String l : lines) {
                if (l.startsWith(key + ":")) {
                    long kb = Long.parseLong(l.substring(key.length() + 1).trim().split("\\s+")[0]);
                    return String.format(Locale.ROOT, "%.1f MiB", kb / 1024.0);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return "n/a";
    }

    private static double mib(long bytes) {
        return bytes / (1024.0 * 1024.0);
    }
}
