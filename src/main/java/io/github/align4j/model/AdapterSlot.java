package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.github.align4j.Align4jException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The LoRA adapters one {@link CausalLM} holds, none until they are added or loaded: the projections
 * they target, their weights (which then become the only trainable ones), the switch that turns them
 * off (PEFT's {@code disable_adapter}) and the dropout key. {@link CausalLM}'s LoRA methods delegate
 * here; the adapters themselves, their forward and dropout are {@link Adapters}, their files
 * {@link PeftAdapter}.
 */
final class AdapterSlot {
    private final ModelConfig config;
    private final Decoder decoder;
    private final Map<String, Linear> linears;
    private final NDManager manager;
    private final boolean baseTrainable;
    private Adapters adapters; // LoRA, or null
    private Path source; // the folder the adapter was loaded from, or null

    AdapterSlot(ModelParts parts) {
        this.config = parts.config;
        this.decoder = parts.decoder;
        this.linears = parts.linears;
        this.manager = parts.manager;
        this.baseTrainable = parts.trainable;
    }

    /** {@link CausalLM#loraTargetCount}: builds the model's layers without weights to match the targets. */
    static int targetCount(ModelConfig config, LoraConfig lora) {
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            Layer.Registry r = new Layer.Registry();
            ModelFamily family = ModelFamily.of(config);
            family.build(config, r, m);
            return PeftAdapter.select(r.linears, lora.targetModules(), family, "lora_target_modules").size();
        }
    }

    /** {@link CausalLM#addAdapters}. */
    void add(LoraConfig lora, long seed) {
        requireBase();
        adapters = PeftAdapter.create(lora, PeftAdapter.select(linears, lora.targetModules(), ModelFamily.of(config),
                "lora_target_modules"), manager, seed, true);
        decoder.adapters = adapters;
    }

    /** {@link CausalLM#loadAdapter}. */
    void load(Path dir, boolean trainable) {
        requireBase();
        LoraConfig c = PeftAdapter.readConfig(dir);
        adapters = PeftAdapter.load(dir, c, PeftAdapter.select(linears, c.targetModules(), ModelFamily.of(config),
                dir.resolve(PeftAdapter.CONFIG).toString()), manager, trainable);
        decoder.adapters = adapters;
        source = dir;
    }

    private void requireBase() {
        if (adapters != null) {
            throw new Align4jException("this model already has LoRA adapters");
        }
        if (baseTrainable) {
            throw new Align4jException("LoRA trains adapters on a frozen base: load the base with trainable=false "
                    + "(e.g. new CausalLM.Options(device, false, DataType.FLOAT16))");
        }
    }

    /** The adapters, or null. */
    Adapters adapters() {
        return adapters;
    }

    /** The folder the adapter was loaded from, or null. */
    Path source() {
        return source;
    }

    /** The LoRA settings, or null when there are no adapters. */
    LoraConfig config() {
        return adapters == null ? null : adapters.config;
    }

    /** The adapted projections' module names, in module order. */
    List<String> modules() {
        return adapters == null ? List.of() : List.copyOf(adapters.byModule.keySet());
    }

    /** Whether the decoder layers have weights that take gradients (a trainable base, or trainable adapters on). */
    boolean layersTrain() {
        if (adapters == null) {
            return baseTrainable;
        }
        return adapters.enabled && adapters.byModule.values().stream().anyMatch(l -> l.a().getArray().hasGradient());
    }

    /** {@link CausalLM#adaptersDisabled}. */
    CausalLM.AdaptersOff disable() {
        Adapters a = adapters;
        if (a == null) {
            return () -> { };
        }
        boolean was = a.enabled;
        a.enabled = false;
        return () -> a.enabled = was;
    }

    /** A and B of every adapter that takes gradients, under PEFT's names, in module order. */
    Map<String, NDArray> trainableWeights() {
        Map<String, NDArray> m = new LinkedHashMap<>();
        for (Adapters.Lora l : adapters.byModule.values()) {
            if (l.a().getArray().hasGradient()) {
                m.put(l.a().getName(), l.a().getArray());
                m.put(l.b().getName(), l.b().getArray());
            }
        }
        return m;
    }

    /** A and B of every adapter (none without adapters) under PEFT's names, in module order. */
    Map<String, Parameter> weights() {
        Map<String, Parameter> all = new LinkedHashMap<>();
        if (adapters != null) {
            for (Adapters.Lora l : adapters.byModule.values()) {
                all.put(l.a().getName(), l.a());
                all.put(l.b().getName(), l.b());
            }
        }
        return all;
    }

    /** {@link CausalLM#setDropoutKey}. */
    void dropoutKey(long key) {
        if (adapters != null) {
            adapters.key(key);
        }
    }
}
