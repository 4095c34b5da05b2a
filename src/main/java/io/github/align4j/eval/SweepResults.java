package io.github.align4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Utf8Out;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A sweep's record of its runs in {@code OUTPUT/cells/}: the settings a run began with ({@value #BEGUN}, so a
 * killed run continues from its checkpoints), a finished run's {@code result.json} (written through a temporary
 * file and an atomic move, reused while the settings are the same) and which runs have finished.
 */
final class SweepResults {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** Written into a run's folder before it trains: the settings it began with (see {@link #begun}). */
    static final String BEGUN = "sweep_run.json";

    private final Sweep sweep;

    SweepResults(Sweep sweep) {
        this.sweep = sweep;
    }

    /** The finished runs (result.json present and written with these settings) and the missing ones, in grid order. */
    Sweep.Status status() {
        List<Sweep.CellResult> done = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (Sweep.Cell cell : sweep.cells()) {
            for (int k = 0; k < sweep.seeds(); k++) {
                Sweep.CellResult r = read(cell, sweep.seed(k));
                if (r != null && (sweep.mtBench == null || Double.isFinite(r.metric("mt_bench")))) {
                    done.add(r);
                } else {
                    missing.add(sweep.seeds() == 1 ? cell.id() : cell.id() + " seed " + sweep.seed(k));
                }
            }
        }
        return new Sweep.Status(new Sweep.Result(List.copyOf(done), sweep.primaryMetric(), sweep.output),
                List.copyOf(missing), sweep.runs());
    }

    /** Whether the run's folder holds a run begun with exactly these settings (so its checkpoints continue it). */
    boolean begun(Sweep.Cell cell, long seed) {
        Path f = sweep.cellDir(cell, seed).resolve(BEGUN);
        try {
            return Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS) && Files.size(f) < (1 << 20)
                    && JSON.valueToTree(configMap(cell, seed)).equals(JSON.readTree(f.toFile()));
        } catch (IOException | RuntimeException e) {
            return false; // damaged: train again from the start
        }
    }

    /** Records the settings a run begins with, before it trains. */
    void writeBegun(Sweep.Cell cell, long seed) {
        writeJson(sweep.cellDir(cell, seed).resolve(BEGUN), JSON.valueToTree(configMap(cell, seed)), "the cell's settings");
    }

    private Path resultFile(Sweep.Cell cell, long seed) {
        return sweep.cellDir(cell, seed).resolve("result.json");
    }

    /** A finished run's result, or null when the run has not finished (or finished with other settings). */
    Sweep.CellResult read(Sweep.Cell cell, long seed) {
        Path f = resultFile(cell, seed);
        if (!Files.isRegularFile(f)) {
            return null;
        }
        try {
            JsonNode n = JSON.readTree(f.toFile());
            JsonNode saved = n.get("config");
            if (saved instanceof ObjectNode o) {
                o.remove("device"); // results written before the device was left out
            }
            if (!JSON.valueToTree(configMap(cell, seed)).equals(saved)) {
                return null; // the cell's settings changed since: train it again
            }
            Map<String, Double> m = new LinkedHashMap<>();
            n.get("metrics").fields().forEachRemaining(e -> m.put(e.getKey(),
                    e.getValue().isNumber() ? e.getValue().asDouble() : Double.NaN));
            if (sweep.mtBench != null && !sweep.mtBench.toString().equals(n.path("mt_bench").asText())) {
                m.remove("mt_bench"); // scored with other MT-Bench settings (or none): score again
            }
            return new Sweep.CellResult(cell, m, n.path("seconds").asDouble(), true, seed);
        } catch (IOException | RuntimeException e) {
            return null; // damaged: train again
        }
    }

    /** What a run trains (its result and checkpoints are reused under these): not where it trains (device). */
    private Map<String, Object> configMap(Sweep.Cell cell, long seed) {
        Map<String, Object> m = new LinkedHashMap<>(sweep.config(cell, seed).asMap());
        m.remove("device"); // a Spark task or an array job trains on the GPU it was given; the report is built elsewhere
        m.put("model", sweep.model.toAbsolutePath().normalize().toString());
        m.put("train_pairs", sweep.trainPairs.size());
        m.put("eval_pairs", sweep.evalPairs == null ? 0 : sweep.evalPairs.size());
        m.put("judge_prompts", sweep.judge == null ? 0 : sweep.judgePrompts.size());
        if (sweep.judge != null) {
            m.put("sampling", sweep.sampling.toString());
        }
        return m;
    }

    void write(Sweep.CellResult r) {
        ObjectNode n = JSON.createObjectNode();
        n.put("id", r.cell().id());
        n.put("algorithm", r.cell().algorithm());
        n.put("beta", r.cell().beta());
        n.set("cell", JSON.valueToTree(r.cell().values()));
        n.put("seed", r.seed());
        n.set("config", JSON.valueToTree(configMap(r.cell(), r.seed())));
        if (sweep.mtBench != null) {
            n.put("mt_bench", sweep.mtBench.toString());
        }
        ObjectNode m = n.putObject("metrics");
        r.metrics().forEach((k, v) -> {
            if (Double.isFinite(v)) {
                m.put(k, v);
            } else {
                m.putNull(k);
            }
        });
        n.put("seconds", r.seconds());
        writeJson(resultFile(r.cell(), r.seed()), n, "the cell's result");
    }

    /** Writes a JSON file through a temporary file and an atomic move. */
    private static void writeJson(Path f, JsonNode n, String what) {
        try {
            Files.createDirectories(f.getParent());
            Path tmp = Files.createTempFile(f.getParent(), ".result", ".tmp");
            try {
                Files.write(tmp, Utf8Out.bytes(f, JSON.writeValueAsString(n)));
                Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new Align4jException(f + ": cannot write " + what + ": " + e.getMessage(), e);
        }
    }
}
