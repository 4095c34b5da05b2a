package io.github.align4j.train;

import ai.djl.Device;
import io.github.align4j.Align4jException;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.internal.Devices;
import io.github.align4j.loss.Losses;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.loss.WeightedLoss;
import io.github.align4j.model.CausalLM;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How the trainer uses the settings that {@code align4j train} applies before the trainer exists
 * (the loss, max_length, device), so that none is silently ignored in a library call: the loss
 * comes from the config unless one is given explicitly (then the config must not set another),
 * the data must fit max_length, and the policy must be on the configured device.
 */
final class ConfigUse {
    private ConfigUse() {}

    /** The loss to train: the explicit one, or the config's; both at once is refused. */
    static PreferenceLoss loss(TrainConfig cfg, PreferenceLoss explicit) {
        if (explicit == null) {
            return cfg.loss();
        }
        if (cfg.setsLoss() && !same(cfg, explicit)) {
            List<String> set = new java.util.ArrayList<>();
            TrainConfig d = TrainConfig.defaults();
            for (String k : TrainConfig.LOSS_KEYS) {
                if (!cfg.get(k).equals(d.get(k))) {
                    set.add(k + "=" + cfg.get(k));
                }
            }
            throw new Align4jException("PreferenceTrainer got a loss (" + explicit.name() + ", via Builder.loss) and a "
                    + "config that also sets the loss (" + String.join(", ", set) + "); the config's loss settings would be "
                    + "ignored. Drop Builder.loss to train the config's loss, or leave those keys at their defaults and "
                    + "give the options to the loss itself.");
        }
        return explicit;
    }

    /** Whether the config describes the explicit loss (same class, same options): then nothing is ignored. */
    private static boolean same(TrainConfig cfg, PreferenceLoss explicit) {
        try {
            PreferenceLoss c = cfg.loss();
            return c.getClass() == explicit.getClass() && c.name().equals(explicit.name())
                    && c.options().equals(explicit.options());
        } catch (Align4jException e) {
            return false;
        }
    }

    /** The config as the run records it: loss_type names the loss actually trained. */
    static TrainConfig recorded(TrainConfig cfg, PreferenceLoss loss, boolean explicit) {
        if (!explicit || loss instanceof WeightedLoss) {
            return cfg;
        }
        if (loss instanceof io.github.align4j.loss.ReferenceFree r) { // recorded as TRL's key, so a resume rebuilds it
            return recorded(cfg.with("reference_free", true, "Builder.loss"), r.inner(), true);
        }
        if (loss instanceof io.github.align4j.loss.FDivergence f) { // recorded as TRL's keys, so a resume rebuilds it
            Map<String, Object> keys = new LinkedHashMap<>(f.options());
            keys.keySet().retainAll(java.util.Set.of(io.github.align4j.loss.FDivergence.TYPE_KEY,
                    io.github.align4j.loss.FDivergence.ALPHA_KEY));
            keys.put("loss_type", spec(f.inner()));
            return cfg.with(keys, "Builder.loss");
        }
        return cfg.with("loss_type", spec(loss), "Builder.loss");
    }

    /** A built-in's name when the loss is that built-in's class, else the class name. */
    static String spec(PreferenceLoss loss) {
        if (Losses.builtins().contains(loss.name())
                && Losses.create(loss.name(), Map.of()).getClass() == loss.getClass()) {
            return loss.name();
        }
        return loss.getClass().getName();
    }

    /** trainer_state.json's record of the loss: name, class and options. */
    static Map<String, Object> describe(PreferenceLoss loss, TrainConfig cfg, boolean explicit) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", loss.name());
        m.put("class", loss.getClass().getName());
        Map<String, Object> options = new LinkedHashMap<>(loss.options());
        if (!explicit) {
            cfg.allLossOptions().forEach(options::putIfAbsent); // a custom loss's options as handed to it
        }
        m.put("options", options);
        return m;
    }

    /**
     * max_length: every example must fit (prompt + longest completion), as {@code align4j train}
     * guarantees by truncating at load time; device: the policy must be where the config says.
     */
    static void check(TrainConfig cfg, CausalLM policy, List<TokenizedPair> pairs, List<TokenizedUnpaired> unpaired,
            String which) {
        int max = cfg.data().maxLength();
        if (max > 0) {
            if (pairs != null) {
                for (TokenizedPair p : pairs) {
                    fits(p.prompt().length + Math.max(p.chosen().length, p.rejected().length), max, which, p.row());
                }
            }
            if (unpaired != null) {
                for (TokenizedUnpaired u : unpaired) {
                    fits(u.prompt().length + u.completion().length, max, which, u.row());
                }
            }
        }
    }

    private static void fits(int tokens, int max, String which, long row) {
        if (tokens > max) {
            throw new Align4jException("the " + which + " example of row " + row + " has " + tokens
                    + " tokens (prompt + completion), over max_length " + max + ": load the data with the same limit "
                    + "(DataOptions.withMaxLength(" + max + ").withMaxPromptLength(...)), which truncates as TRL does, "
                    + "or raise max_length (0: no limit)");
        }
    }

    static void checkDevice(TrainConfig cfg, CausalLM policy) {
        String d = cfg.model().device().toString();
        if (d.equals("auto")) {
            return; // auto: wherever the policy was loaded
        }
        Device want = Devices.resolve(d);
        if (policy.device().isGpu() != want.isGpu()) {
            throw new Align4jException("device is " + d + " in the config but the policy is on " + policy.device()
                    + ": load it with CausalLM.Options.training().withDevice(Devices.resolve(\"" + d + "\")), or set "
                    + "device to auto");
        }
    }

    /**
     * The settings a trainer built directly (not by {@link PreferenceRun}) cannot honour with what it was given:
     * each is refused, naming the Java call that does it. What it can honour it honours (output_dir, ref_model,
     * torch_dtype for a reference it loads: see {@link PreferenceTrainer}).
     */
    static void checkDirect(TrainConfig cfg, CausalLM policy, boolean evalGiven) {
        String run = "PreferenceRun.builder().config(cfg).build().train(), which loads the model and data as the config says";
        if (cfg.lora().enabled() && policy.adapterConfig() == null) {
            throw new Align4jException("use_peft is set but the policy has no LoRA adapters, so every weight would be trained: "
                    + "load a frozen base and add them (CausalLM.load(dir, CausalLM.Options.inference()).addAdapters(cfg.lora().adapters(), "
                    + "cfg.optimization().seed())), or use " + run);
        }
        if (cfg.lora().enabled() && !policy.adapterConfig().equals(cfg.lora().adapters())) {
            throw new Align4jException("use_peft is set with " + cfg.lora().adapters() + " but the policy's adapters are "
                    + policy.adapterConfig() + ": add the adapters with cfg.lora().adapters(), or set the lora_* keys to the policy's");
        }
        if (!cfg.data().trainFile().isEmpty() || !cfg.data().evalFile().isEmpty()) {
            throw new Align4jException("train_file/eval_file are set, but PreferenceTrainer trains the data given to its builder "
                    + "(trainPairs, evalPairs) and would not read them: clear them, or use " + run);
        }
        if (cfg.data().evalSplit() > 0 && !evalGiven) {
            throw new Align4jException("eval_split is " + cfg.data().evalSplit() + " but PreferenceTrainer does not split data: hold "
                    + "out with PreferenceData.split(" + cfg.data().evalSplit() + ", seed) and pass evalPairs, or use " + run);
        }
        if (!cfg.model().path().isEmpty() && policy.source() != null
                && !policy.source().toAbsolutePath().normalize().equals(java.nio.file.Path.of(cfg.model().path()).toAbsolutePath().normalize())) {
            throw new Align4jException("model_name_or_path is " + cfg.model().path() + " but the policy was loaded from "
                    + policy.source() + ": set it to the policy's folder or clear it");
        }
    }
}
