package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.core.JsonProcessingException;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.FolderFiles;
import io.github.align4j.internal.Texts;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;

/**
 * LoRA adapters as PEFT's {@code save_pretrained} writes them, so that PEFT, vLLM and TGI load what
 * align4j trains: {@code adapter_config.json} and {@code adapter_model.safetensors} with tensors
 * {@code base_model.model.<module>.lora_A.weight} [r, in] and {@code ….lora_B.weight} [out, r].
 * Adapter folders are untrusted input: the config is size-capped and every value checked, and only
 * safetensors are read (never pickled {@code adapter_model.bin}).
 */
final class PeftAdapter {
    static final String CONFIG = "adapter_config.json";
    static final String WEIGHTS = "adapter_model.safetensors";
    static final String PREFIX = "base_model.model.";
    private static final long MAX_CONFIG_BYTES = 1 << 20;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private PeftAdapter() {}

    /** PEFT's tensor names of a module's A and B. */
    static String nameA(String module) {
        return PREFIX + module + ".lora_A.weight";
    }

    static String nameB(String module) {
        return PREFIX + module + ".lora_B.weight";
    }

    /**
     * The projections {@code targets} selects among {@code linears}, as PEFT matches
     * {@code target_modules}: a module whose name equals a target or ends with {@code "." + target};
     * {@code all-linear} takes them all; an empty list the family's default.
     *
     * @throws Align4jException when a target matches nothing (naming the modules there are)
     */
    static List<Linear> select(Map<String, Linear> linears, List<String> targets, ModelFamily family, String source) {
        List<String> want = targets.isEmpty() ? family.defaultLoraTargets() : targets;
        boolean all = want.contains(LoraConfig.ALL_LINEAR);
        if (all && want.size() > 1) {
            throw new Align4jException(source + ": target_modules 'all-linear' must be given alone, got " + want);
        }
        TreeSet<String> shortNames = new TreeSet<>();
        for (String m : linears.keySet()) {
            shortNames.add(m.substring(m.lastIndexOf('.') + 1));
        }
        List<Linear> out = new ArrayList<>();
        for (String t : want) {
            if (!all && linears.keySet().stream().noneMatch(m -> matches(m, t))) {
                throw new Align4jException(source + ": target module '" + t + "' matches no projection of this model; "
                        + "its projections are " + String.join(", ", shortNames) + " (or all-linear)");
            }
        }
        for (Map.Entry<String, Linear> e : linears.entrySet()) {
            if (all || want.stream().anyMatch(t -> matches(e.getKey(), t))) {
                out.add(e.getValue());
            }
        }
        return out;
    }

    private static boolean matches(String module, String target) {
        return module.equals(target) || module.endsWith("." + target);
    }

    /**
     * New adapters on the selected projections, initialised as PEFT does: A ~ U(−1/√in, 1/√in)
     * (Kaiming-uniform with a = √5), B = 0; float32, owned by {@code manager}.
     */
    static Adapters create(LoraConfig config, List<Linear> targets, NDManager manager, long seed, boolean trainable) {
        Adapters a = new Adapters(config);
        Random rng = new Random(seed);
        int index = 0;
        for (Linear l : targets) {
            int r = config.r();
            float[] av = new float[Math.toIntExact(r * l.inFeatures())];
            double bound = 1 / Math.sqrt(l.inFeatures());
            for (int i = 0; i < av.length; i++) {
                av[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
            }
            NDArray aArr = manager.create(av, new Shape(r, l.inFeatures()));
            NDArray bArr = manager.zeros(new Shape(l.outFeatures(), r), DataType.FLOAT32);
            attach(a, l, aArr, bArr, index++, trainable);
        }
        return a;
    }

    private static void attach(Adapters a, Linear l, NDArray aArr, NDArray bArr, int index, boolean trainable) {
        Parameter pa = Parameter.builder().setName(nameA(l.name())).setType(Parameter.Type.WEIGHT).build();
        Parameter pb = Parameter.builder().setName(nameB(l.name())).setType(Parameter.Type.WEIGHT).build();
        aArr.setName(pa.getName());
        bArr.setName(pb.getName());
        if (trainable) {
            aArr.setRequiresGradient(true);
            bArr.setRequiresGradient(true);
        }
        pa.setArray(aArr);
        pb.setArray(bArr);
        Adapters.Lora lora = new Adapters.Lora(l.name(), pa, pb, index);
        a.byModule.put(l.name(), lora);
        l.attach(a, lora);
    }

    /** Reads {@code dir/adapter_config.json} into a LoraConfig, refusing what align4j cannot apply exactly. */
    static LoraConfig readConfig(Path dir) {
        Path file = FolderFiles.inside(dir, dir.resolve(CONFIG), "adapter folder");
        if (!Files.isRegularFile(file)) {
            throw new Align4jException(dir + ": no " + CONFIG + "; give the folder PEFT's save_pretrained (or align4j train "
                    + "--use-peft) wrote");
        }
        JsonNode n;
        try {
            if (Files.size(file) > MAX_CONFIG_BYTES) {
                throw new Align4jException(file + ": over 1 MiB; an adapter config is a few hundred bytes");
            }
            try (InputStream in = Files.newInputStream(file)) {
                n = JSON.readTree(in);
            }
        } catch (JsonProcessingException e) {
            throw new Align4jException(Texts.jsonError(file + ": not valid JSON", e), e);
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (n == null || !n.isObject()) {
            throw new Align4jException(file + ": expected a JSON object");
        }
        String type = text(n, "peft_type", file);
        if (!"LORA".equals(type)) {
            throw new Align4jException(file + ": peft_type is '" + type + "'; align4j loads LORA adapters only");
        }
        JsonNode task = n.get("task_type");
        if (task != null && !task.isNull() && !"CAUSAL_LM".equals(task.asText())) {
            throw new Align4jException(file + ": task_type is '" + task.asText() + "'; align4j loads CAUSAL_LM adapters");
        }
        JsonNode bias = n.get("bias");
        if (bias != null && !bias.isNull() && !"none".equals(bias.asText())) {
            throw new Align4jException(file + ": bias is '" + bias.asText() + "'; align4j applies adapters with bias 'none' only");
        }
        for (String k : new String[] {"use_dora", "use_qalora"}) {
            if (n.path(k).asBoolean(false)) {
                throw new Align4jException(file + ": " + k + " is true; align4j applies plain LoRA only");
            }
        }
        for (String k : new String[] {"modules_to_save", "layers_to_transform", "layers_pattern"}) {
            JsonNode v = n.get(k);
            if (v != null && !v.isNull() && !(v.isArray() && v.isEmpty())) {
                throw new Align4jException(file + ": " + k + " is set; align4j cannot apply it: retrain without it");
            }
        }
        for (String k : new String[] {"rank_pattern", "alpha_pattern"}) {
            JsonNode v = n.get(k);
            if (v != null && !v.isNull() && !(v.isObject() && v.isEmpty())) {
                throw new Align4jException(file + ": " + k + " is set (per-module ranks); align4j needs one r and lora_alpha");
            }
        }
        int r = integer(n, "r", file, 1, 65536);
        double alpha = number(n, "lora_alpha", file, 1e-9, 1e9);
        double dropout = n.has("lora_dropout") && !n.get("lora_dropout").isNull() ? number(n, "lora_dropout", file, 0, 0.999999) : 0;
        boolean rs = n.path("use_rslora").asBoolean(false);
        JsonNode tm = n.get("target_modules");
        List<String> targets = new ArrayList<>();
        if (tm == null || tm.isNull()) {
            throw new Align4jException(file + ": target_modules is missing");
        } else if (tm.isTextual()) {
            if (!tm.asText().equals(LoraConfig.ALL_LINEAR)) {
                throw new Align4jException(file + ": target_modules '" + tm.asText() + "' is a regular expression; "
                        + "align4j reads a list of module names or 'all-linear'");
            }
            targets.add(LoraConfig.ALL_LINEAR);
        } else if (tm.isArray() && tm.size() <= 1024) {
            tm.forEach(t -> targets.add(t.asText()));
        } else {
            throw new Align4jException(file + ": target_modules must be a list of module names (at most 1024)");
        }
        return new LoraConfig(r, alpha, dropout, targets, rs);
    }

    private static String text(JsonNode n, String key, Path file) {
        JsonNode v = n.get(key);
        if (v == null || !v.isTextual()) {
            throw new Align4jException(file + ": key '" + key + "' is missing or not text");
        }
        return v.asText();
    }

    /** An integer in [min, max]: 4.9 is refused, never rounded down (PEFT's r is an int). */
    private static int integer(JsonNode n, String key, Path file, int min, int max) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            throw new Align4jException(file + ": key '" + key + "' is missing; expected an integer in [" + min + ", " + max + "]");
        }
        if (!v.isIntegralNumber()) {
            throw new Align4jException(file + ": key '" + key + "' must be an integer in [" + min + ", " + max + "], got "
                    + (v.isNumber() ? v.asText() : "a " + v.getNodeType().toString().toLowerCase(java.util.Locale.ROOT)));
        }
        if (!v.canConvertToInt() || v.asInt() < min || v.asInt() > max) {
            throw new Align4jException(file + ": key '" + key + "' is " + v.asText() + ", out of range [" + min + ", " + max + "]");
        }
        return v.asInt();
    }

    private static double number(JsonNode n, String key, Path file, double min, double max) {
        JsonNode v = n.get(key);
        if (v == null || !v.isNumber() || !(v.asDouble() >= min && v.asDouble() <= max)) {
            throw new Align4jException(file + ": key '" + key + "' must be a number in [" + min + ", " + max + "], got " + v);
        }
        return v.asDouble();
    }

    /**
     * Loads {@code dir}'s adapter onto the selected projections: every tensor must be there with its
     * shape and finite values, and no other tensor may be in the file.
     */
    static Adapters load(Path dir, LoraConfig config, List<Linear> targets, NDManager manager, boolean trainable) {
        Path file = FolderFiles.inside(dir, dir.resolve(WEIGHTS), "adapter folder");
        if (!Files.isRegularFile(file)) {
            throw new Align4jException(dir + ": no " + WEIGHTS + (Files.exists(dir.resolve("adapter_model.bin"))
                    ? " (adapter_model.bin is a pickle, which align4j never loads: save with safe_serialization=True)" : ""));
        }
        Adapters a = new Adapters(config);
        try (SafeTensors.Checkpoint ck = SafeTensors.open(file)) {
            java.util.Set<String> expected = new java.util.HashSet<>();
            int index = 0;
            for (Linear l : targets) {
                NDArray aArr = tensor(ck, nameA(l.name()), new Shape(config.r(), l.inFeatures()), manager, file);
                NDArray bArr = tensor(ck, nameB(l.name()), new Shape(l.outFeatures(), config.r()), manager, file);
                expected.add(nameA(l.name()));
                expected.add(nameB(l.name()));
                attach(a, l, aArr, bArr, index++, trainable);
            }
            for (String name : ck.names()) {
                if (!expected.contains(name)) {
                    throw new Align4jException(file + ": tensor '" + name + "' belongs to no adapted projection of this "
                            + "base model (target_modules " + config.targetModules() + "); is this the adapter of another model?");
                }
            }
        }
        return a;
    }

    private static NDArray tensor(SafeTensors.Checkpoint ck, String name, Shape want, NDManager manager, Path file) {
        SafeTensors.Tensor t = ck.require(name, "the LoRA adapter of this base model");
        if (!new Shape(t.shape()).equals(want)) {
            throw new Align4jException(file + ": tensor '" + name + "' has shape " + new Shape(t.shape()) + " but the base "
                    + "model and r imply " + want + "; is this the adapter of another model?");
        }
        if (t.dtype() == SafeTensors.DType.I64) {
            throw new Align4jException(file + ": tensor '" + name + "' is I64; adapter weights must be F32, F16 or BF16");
        }
        ByteBuffer data = t.asFloat32();
        t.requireFinite(data);
        NDArray mapped = manager.create(data, want, DataType.FLOAT32);
        NDArray owned = mapped.duplicate(); // the mapping closes with the file; an optimizer needs its own memory
        mapped.close();
        return owned;
    }

    /** Writes adapter_config.json and adapter_model.safetensors (float32) into dir, each through a temporary file. */
    static void save(Adapters a, Path dir, String baseModel, boolean fanInFanOut) {
        try {
            Files.createDirectories(dir);
            List<SafeTensors.Entry> entries = new ArrayList<>();
            for (Adapters.Lora l : a.byModule.values()) {
                for (Parameter p : new Parameter[] {l.a(), l.b()}) {
                    NDArray arr = p.getArray();
                    entries.add(new SafeTensors.Entry(p.getName(), arr.getShape().getShape(), () -> {
                        NDArray f = arr.getDevice().isGpu() ? arr.toDevice(ai.djl.Device.cpu(), true) : arr;
                        ByteBuffer b = f.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                        if (f != arr) {
                            f.close();
                        }
                        long bad = SafeTensors.firstNonFinite(b);
                        if (bad >= 0) { // like full weights, an adapter is never saved non-finite
                            throw new Align4jException(dir + ": the adapter's tensor '" + p.getName() + "' holds "
                                    + b.getFloat((int) (bad * 4)) + " at element " + bad + ", so it was not saved; "
                                    + "lower the learning rate or check the data and the base model's weights.");
                        }
                        return b;
                    }));
                }
            }
            SafeTensors.writeFile(dir.resolve(WEIGHTS), entries, SafeTensors.DType.F32);
            io.github.align4j.internal.FileTrees.writeAtomically(dir.resolve(CONFIG),
                    out -> out.write(JSON.writeValueAsBytes(config(a, baseModel, fanInFanOut))));
        } catch (IOException e) {
            throw new Align4jException(dir + ": cannot write the adapter: " + e.getMessage(), e);
        }
    }

    /** adapter_config.json with the keys PEFT's LoraConfig writes (those align4j has a value for). */
    static ObjectNode config(Adapters a, String baseModel, boolean fanInFanOut) {
        LoraConfig c = a.config;
        ObjectNode n = JSON.createObjectNode();
        n.putObject("alpha_pattern");
        n.putNull("auto_mapping");
        n.put("base_model_name_or_path", baseModel == null ? "" : baseModel);
        n.put("bias", "none");
        n.put("fan_in_fan_out", fanInFanOut);
        n.put("inference_mode", true);
        n.put("init_lora_weights", true);
        n.putNull("layers_pattern");
        n.putNull("layers_to_transform");
        if (c.alpha() == Math.rint(c.alpha()) && Math.abs(c.alpha()) < Integer.MAX_VALUE) {
            n.put("lora_alpha", (int) c.alpha());
        } else {
            n.put("lora_alpha", c.alpha());
        }
        n.put("lora_dropout", c.dropout());
        n.putNull("modules_to_save");
        n.put("peft_type", "LORA");
        n.put("r", c.r());
        n.putObject("rank_pattern");
        n.putNull("revision");
        ArrayNode t = n.putArray("target_modules");
        TreeSet<String> names = new TreeSet<>();
        for (String m : a.byModule.keySet()) {
            names.add(m.substring(m.lastIndexOf('.') + 1));
        }
        names.forEach(t::add);
        n.put("task_type", "CAUSAL_LM");
        n.put("use_dora", false);
        n.put("use_rslora", c.useRslora());
        return n;
    }

    /** Module name → merged weight W + scaling·(B·A) (transposed for Conv1D), float32, in {@code manager}. */
    static NDArray merged(Linear l, Adapters.Lora lora, double scaling, NDManager manager) {
        NDArray w = l.weight().getArray();
        NDArray wide = w.getDataType() == DataType.FLOAT32 ? w.duplicate() : w.toType(DataType.FLOAT32, true);
        wide.attach(manager);
        NDArray ba = lora.b().getArray().matMul(lora.a().getArray()); // [out, in]
        ba.attach(manager);
        NDArray delta = l.fanInFanOut() ? ba.transpose() : ba;
        NDArray scaled = delta.mul((float) scaling);
        return wide.addi(scaled);
    }

    static Map<String, Adapters.Lora> byWeightName(Adapters a) {
        Map<String, Adapters.Lora> m = new LinkedHashMap<>();
        a.byModule.forEach((k, v) -> m.put(k + ".weight", v));
        return m;
    }
}
