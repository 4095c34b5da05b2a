package io.github.align4j.train;

import ai.djl.ndarray.NDArray;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.model.CausalLM;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * What a resume needs besides weights and moments, stored as "align4j" in trainer_state.json: the
 * data position, the data's fingerprint, the random order's seed, the non-finite counter, the
 * open logging window, the elapsed time and the thread counts and CPU kernels ({@link CpuKernels}); its
 * restoring from a checkpoint; and, for {@link PreferenceTrainer}'s run, the count of non-finite steps in
 * a row (what such a step does) and the writing of its checkpoints.
 */
final class RunState {
    /** Settings that fix the data order: a resumed run must keep them. */
    private static final List<String> ORDER_KEYS = List.of("per_device_train_batch_size", "gradient_accumulation_steps",
            "seed", "shuffle", "group_by_length");

    /**
     * 2: an epoch ends with a shorter step, and the logging window holds per-step losses and (for
     * pairs) per-micro-batch means. 1 carried gradient accumulation across an epoch's end.
     */
    static final int VERSION = 2;

    private final TrainConfig cfg;
    private final Batching data;
    private final Map<String, Object> lossRecord;
    private final CausalLM policy;
    private final Path output;
    private final Path tokenizerDir;
    private final Reference reference;
    private String dataSha;
    private CpuKernels cpu;
    /** Optimizer steps in a row whose loss or gradient was not finite. */
    private int badSteps;

    /**
     * @param output where checkpoints go (null: none are written)
     * @param tokenizerDir tokenizer files copied into every checkpoint
     * @param reference the run's reference: saved and restored when sync_ref_model changes it
     */
    RunState(TrainConfig cfg, Batching data, Map<String, Object> lossRecord, CausalLM policy, Path output,
            Path tokenizerDir, Reference reference) {
        this.cfg = cfg;
        this.data = data;
        this.lossRecord = lossRecord;
        this.policy = policy;
        this.output = output;
        this.tokenizerDir = tokenizerDir;
        this.reference = reference;
    }

    /** What a checkpoint's trainer_state.json records under "align4j". */
    ObjectNode save(long totalSteps, Position pos, Window w, int badSteps, double elapsed) {
        var json = Checkpoints.json();
        var r = json.createObjectNode();
        r.put("version", VERSION);
        r.put("total_steps", totalSteps);
        r.put("epoch", pos.epoch);
        r.put("next_batch", pos.next);
        r.put("micro_batches_done", pos.microDone);
        r.put("examples", data.size());
        r.put("data_sha256", dataFingerprint());
        r.set("loss", json.valueToTree(lossRecord));
        var rng = r.putObject("rng");
        rng.put("generator", "java.util.Random(seed * 1000003 + epoch), one per epoch: the order of the examples");
        rng.put("seed", cfg.optimization().seed());
        rng.put("epoch", pos.epoch);
        r.put("nonfinite_in_a_row", badSteps);
        r.put("elapsed_s", elapsed);
        r.set("window", json.valueToTree(w.save()));
        cpu().save(r);
        return r;
    }

    /** This process's threads and CPU kernels (read once: they do not change during a run). */
    private CpuKernels cpu() {
        if (cpu == null) {
            cpu = CpuKernels.current();
        }
        return cpu;
    }

    /** SHA-256 of the tokenized training examples in order: a resume must see the same data. */
    String dataFingerprint() {
        if (dataSha == null) {
            MessageDigest md;
            try {
                md = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
            ByteBuffer buf = ByteBuffer.allocate(1 << 16);
            data.fingerprint(a -> feed(md, buf, a));
            buf.flip();
            md.update(buf);
            dataSha = HexFormat.of().formatHex(md.digest());
        }
        return dataSha;
    }

    private static void feed(MessageDigest md, ByteBuffer buf, int[] a) {
        for (int i = -1; i < a.length; i++) {
            if (buf.remaining() < 4) {
                buf.flip();
                md.update(buf);
                buf.clear();
            }
            buf.putInt(i < 0 ? a.length : a[i]);
        }
    }

    /** What {@link #restore} read besides what it copied into place. */
    record Restored(long step, List<Map<String, Object>> history, double elapsed) {}

    /**
     * Restores everything from a verified checkpoint: weights (exact F32), AdamW moments and step,
     * data position, the non-finite counter, the open logging window and (sync_ref_model) the
     * reference as the run had mixed it; returns the step and the metrics history.
     */
    Restored restore(Checkpoints.Found from, Map<String, NDArray> params, AdamW optimizer, Position pos, Window w,
            Consumer<String> say) {
        var st = from.state();
        var a = st.path("align4j");
        Path dir = from.dir();
        if (!a.isObject()) {
            throw new Align4jException(dir + ": this checkpoint has no resume state (it was written by an older align4j). "
                    + "Start a new run in a new folder with --model " + dir + ".");
        }
        if (a.path("examples").asLong(-1) != data.size() || !a.path("data_sha256").asText().equals(dataFingerprint())) {
            throw new Align4jException(dir + ": the checkpoint was trained on other data (" + a.path("examples").asLong(-1)
                    + " examples; now " + data.size() + (a.path("examples").asLong(-1) == data.size() ? " with other tokens" : "")
                    + "). Resume with the same data files, data options and seed, or start a new run in a new folder "
                    + "with --model " + dir + ".");
        }
        int accumulation = cfg.optimization().gradientAccumulationSteps();
        if (a.path("version").asInt(1) < 2 && pos.microPerEpoch() % accumulation != 0) {
            throw new Align4jException(dir + ": this checkpoint was written by an older align4j whose optimizer steps "
                    + "carried gradient accumulation across the end of an epoch; this version ends every epoch with a "
                    + "shorter step (" + pos.microPerEpoch() + " micro-batches an epoch, gradient_accumulation_steps "
                    + accumulation + "), so the run cannot continue exactly. Finish it with the align4j that started it, "
                    + "or start a new run in a new folder with --model " + dir + ".");
        }
        var savedCfg = st.path("config");
        List<String> changed = new ArrayList<>();
        for (Map.Entry<String, Object> e : cfg.asMap().entrySet()) {
            var v = savedCfg.get(e.getKey());
            if (v == null || e.getKey().equals("output_dir")) {
                continue;
            }
            boolean same = e.getValue() instanceof Map<?, ?> ? v.equals(Checkpoints.json().valueToTree(e.getValue()))
                    : e.getValue() instanceof Number n ? v.isNumber() && v.asDouble() == n.doubleValue()
                    : v.asText().equals(String.valueOf(e.getValue()));
            if (!same) {
                String was = shown(v); // the checkpoint's text, bound for a terminal
                if (ORDER_KEYS.contains(e.getKey())) {
                    throw new Align4jException(dir + ": " + e.getKey() + " was " + was + " in the checkpoint's run and is "
                            + e.getValue() + " now; it decides the order of the data, so a resumed run must keep it. "
                            + "Resume with " + e.getKey() + " " + was + ".");
                }
                changed.add(e.getKey() + " " + was + " → " + e.getValue());
            }
        }
        if (!changed.isEmpty()) {
            say.accept("warning: resuming with changed settings: " + String.join(", ", changed));
        }
        List<String> cpuChanged = cpu().differences(a);
        if (!cpuChanged.isEmpty()) {
            say.accept("warning: resuming with other CPU settings than the run so far (" + String.join(", ", cpuChanged)
                    + "): the result will be close, not identical, to an uninterrupted run's. For bit-identical results "
                    + "resume with the same thread count (ai.djl.pytorch.num_threads, ai.djl.pytorch.num_interop_threads) "
                    + "and the same ATEN_CPU_CAPABILITY on the same kind of CPU.");
        }
        long step = from.step();
        RestoreChecks.ranges(dir.resolve(Checkpoints.STATE), st, a, step, pos, cfg);
        // weights (the exact F32 copy when the model file is narrower) and AdamW's moments, one tensor
        // at a time from the memory-mapped files: no second copy of the model on the heap
        Path master = dir.resolve(Checkpoints.MASTER);
        Path adapter = dir.resolve("adapter_model.safetensors");
        boolean lora = params.keySet().stream().anyMatch(k -> k.endsWith(".lora_A.weight"));
        if (lora != Files.isRegularFile(adapter)) {
            throw new Align4jException(dir + (lora ? " holds no adapter_model.safetensors but this run trains LoRA adapters"
                    : " holds a LoRA adapter but this run trains all weights") + "; resume with the settings of that run "
                    + "(use_peft and the lora_* keys)");
        }
        RestoreChecks.copyInto(lora ? adapter : Files.isRegularFile(master) ? master : dir, "", params,
                lora ? "the LoRA adapter" : "the model");
        Path opt = dir.resolve(Checkpoints.OPTIMIZER);
        if (!Files.isRegularFile(opt)) {
            throw new Align4jException(dir + ": " + Checkpoints.OPTIMIZER + " is missing; cannot resume the optimizer");
        }
        RestoreChecks.copyInto(opt, "exp_avg.", optimizer.firstMoments(), "the optimizer's first moments");
        RestoreChecks.copyInto(opt, "exp_avg_sq.", optimizer.secondMoments(), "the optimizer's second moments", true);
        optimizer.restoreSteps(st.path("optimizer_step").asLong());
        pos.epoch = a.path("epoch").asInt();
        pos.next = a.path("next_batch").asInt();
        pos.microDone = a.path("micro_batches_done").asLong();
        pos.seek();
        int bad = a.path("nonfinite_in_a_row").asInt();
        if (bad >= cfg.output().maxNonfiniteSteps()) {
            bad = 0; // the run stopped there; the user chose to go on
        }
        w.load(a.path("window"));
        List<Map<String, Object>> history = new ArrayList<>();
        for (var rec : st.path("log_history")) {
            Map<String, Object> m = MetricsLog.record();
            rec.fields().forEachRemaining(f -> m.put(f.getKey(), jsonValue(f.getValue())));
            history.add(m);
        }
        Restored r = new Restored(step, history, a.path("elapsed_s").asDouble(0));
        badSteps = bad;
        if (cfg.reference().sync()) {
            restoreReference(dir);
        }
        return r;
    }

    /** TR-DPO: the reference as the checkpoint's run had mixed it. */
    private void restoreReference(Path dir) {
        Path file = dir.resolve(Checkpoints.REFERENCE);
        if (!Files.isRegularFile(file)) {
            throw new Align4jException(dir + " holds no " + Checkpoints.REFERENCE + ", so the run that wrote it did not use "
                    + "sync_ref_model (TR-DPO) and its reference cannot be continued: resume with sync_ref_model false, "
                    + "or start a new run in a new folder");
        }
        RestoreChecks.copyInto(file, "", reference.weights(), "the TR-DPO reference");
    }

    // ---- the run's steps and checkpoints -----------------------------------------------------------

    /**
     * After optimizer step {@code done}: counts the steps in a row whose loss or gradient was NaN or
     * infinite. Such a step's update was skipped (weights and AdamW moments unchanged): it is logged
     * with its data rows, and after max_nonfinite_steps in a row the last good weights are saved
     * ({@code checkpoint}) and the run stops.
     *
     * @param emit where the record of a skipped step goes (the run's listeners)
     * @param checkpoint saves {@code checkpoint-<done>} and returns its folder (null without an output)
     */
    void stepEnded(TrainLoop.Step st, long done, Consumer<String> say, Consumer<Map<String, Object>> emit,
            Supplier<Path> checkpoint) {
        if (st.updated()) {
            badSteps = 0;
            return;
        }
        badSteps++;
        List<Long> rows = new ArrayList<>();
        for (int[] b : st.rows()) {
            for (int i : b) {
                rows.add(data.row(i));
            }
        }
        say.accept("warning: step " + done + ": non-finite loss or gradient; update skipped (data rows " + rows
                + ", 0-based rows of the training file; " + badSteps + " in a row)");
        Map<String, Object> rec = MetricsLog.record();
        rec.put("step", done);
        rec.put("skipped", "non-finite loss or gradient");
        rec.put("rows", rows);
        emit.accept(rec);
        if (badSteps >= cfg.output().maxNonfiniteSteps()) {
            Path at = checkpoint.get();
            throw new Align4jException(badSteps + " steps in a row (max_nonfinite_steps) had a non-finite loss or gradient, "
                    + "so training stopped at step " + done + ". "
                    + (at == null ? "" : "The last good weights are in " + at + ". ")
                    + "Lower learning_rate, or check the data rows named above; --resume continues from that checkpoint.");
        }
    }

    /**
     * Writes a checkpoint to {@code OUTPUT/name} through a temporary folder, then prunes old ones
     * to save_total_limit (after {@code final} as well); null without an output folder.
     */
    Path saveCheckpoint(String name, long done, Position pos, Window w, AdamW optimizer, MetricsLog log) {
        if (output == null) {
            return null;
        }
        String bad = policy.firstNonFiniteWeight();
        if (bad != null) { // never save NaN as "good" weights, nor let it replace an older checkpoint by pruning
            throw new Align4jException("the policy's weights are not finite numbers (tensor '" + bad + "' holds NaN or "
                    + "infinity) at step " + done + ", so no " + name + " was saved; the checkpoints already in " + output
                    + " are the last with finite weights. Check the model's weights and the training settings.");
        }
        Path p = Checkpoints.save(output, name, policy, tokenizerDir, optimizer, cfg, log.history(), done,
                save(TrainLoop.totalSteps(data.size(), cfg), pos, w, badSteps, log.elapsedSeconds()),
                cfg.reference().sync() ? reference.weights() : null);
        // after final too (final itself is never pruned): a run killed between a checkpoint's move into place and
        // this prune left one more than the limit, and a resumed run may write nothing but final
        Checkpoints.prune(output, cfg.output().saveTotalLimit());
        return p;
    }

    /** A value of the checkpoint's config for a message: control characters escaped, at most 80 characters. */
    private static String shown(JsonNode v) {
        String t = v.isValueNode() ? v.asText() : v.toString();
        return io.github.align4j.internal.Texts.printable(t.length() > 80 ? t.substring(0, 80) + "…" : t);
    }

    private static Object jsonValue(JsonNode v) {
        if (v.isIntegralNumber()) {
            return v.asLong();
        }
        if (v.isNumber()) {
            return v.asDouble();
        }
        if (v.isBoolean()) {
            return v.asBoolean();
        }
        if (v.isTextual()) {
            String t = v.asText();
            return switch (t) {
                case "NaN" -> Double.NaN;
                case "Infinity" -> Double.POSITIVE_INFINITY;
                case "-Infinity" -> Double.NEGATIVE_INFINITY;
                default -> t;
            };
        }
        if (v.isArray()) {
            List<Object> l = new ArrayList<>();
            v.forEach(x -> l.add(jsonValue(x)));
            return l;
        }
        return v.isNull() ? null : v.toString();
    }

    /** The last training (or eval) record of a history. */
    static Map<String, Object> lastRecord(List<Map<String, Object>> history, boolean eval) {
        for (int i = history.size() - 1; i >= 0; i--) {
            Map<String, Object> m = history.get(i);
            if (eval ? m.keySet().stream().anyMatch(k -> k.startsWith("eval_")) : m.containsKey("learning_rate")) {
                return m;
            }
        }
        return null;
    }
}
