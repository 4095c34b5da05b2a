package io.github.align4j.train;

import ai.djl.Device;
import io.github.align4j.Align4jException;
import io.github.align4j.data.DataOptions;
import io.github.align4j.data.DataStats;
import io.github.align4j.data.PreferenceData;
import io.github.align4j.data.TokenizedPair;
import io.github.align4j.data.TokenizedUnpaired;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The tokenized training and held-out data of a {@link PreferenceRun}, as the trainer takes it (one of
 * each pair of lists is null): given as lists, or read from {@code train_file} (or given as
 * {@link PreferenceData}), split by {@code eval_split} and converted for an unpaired loss; and the
 * memory plan from its real lengths.
 */
record RunData(List<TokenizedPair> trainPairs, List<TokenizedUnpaired> trainUnpaired, List<TokenizedPair> evalPairs,
        List<TokenizedUnpaired> evalUnpaired) {

    /** Data given as lists: used as given (the caller has split and converted it). */
    static RunData given(List<TokenizedPair> trainPairs, List<TokenizedUnpaired> trainUnpaired, List<TokenizedPair> evalPairs,
            List<TokenizedUnpaired> evalUnpaired, PreferenceLoss loss, Consumer<String> say) {
        if (trainPairs != null && trainUnpaired != null) {
            throw new Align4jException("give training data as pairs or as unpaired examples, not both");
        }
        boolean wantPaired = loss.dataKind() == PreferenceLoss.DataKind.PAIRED;
        if (wantPaired != (trainPairs != null)) {
            throw new Align4jException("loss '" + loss.name() + "' trains on " + (wantPaired ? "pairs" : "unpaired examples")
                    + " but the data given is " + (wantPaired ? "unpaired" : "pairs"));
        }
        say.accept(String.format(Locale.ROOT, "train: %d %s given", wantPaired ? trainPairs.size() : trainUnpaired.size(),
                wantPaired ? "pairs" : "unpaired examples"));
        return new RunData(trainPairs, trainUnpaired, emptyToNull(evalPairs), emptyToNull(evalUnpaired));
    }

    private static <T> List<T> emptyToNull(List<T> l) {
        return l == null || l.isEmpty() ? null : l;
    }

    /**
     * Data read from train_file (or given as PreferenceData), split by eval_split, converted for an unpaired loss.
     *
     * @param trainData data already loaded instead of train_file, or null
     * @param evalData held-out data already loaded instead of eval_file or eval_split, or null
     */
    static RunData read(TextTokenizer tok, DataOptions opts, PreferenceData trainData, PreferenceData evalData,
            TrainConfig cfg, PreferenceLoss loss, Consumer<String> say) {
        PreferenceData train = trainData != null ? trainData : PreferenceData.load(cfg.data().trainFile(), opts, tok);
        report("train", train, say);
        PreferenceData eval = evalData;
        if (eval == null && !cfg.data().evalFile().isEmpty()) {
            eval = PreferenceData.load(cfg.data().evalFile(), opts, tok);
            report("eval", eval, say);
        } else if (eval == null && cfg.data().evalSplit() > 0) {
            PreferenceData[] parts = train.split(cfg.data().evalSplit(), cfg.optimization().seed());
            train = parts[0];
            eval = parts[1];
            say.accept(String.format(Locale.ROOT, "eval: %d held out of the training data (eval_split %.3f)", eval.size(),
                    cfg.data().evalSplit()));
        }
        boolean wantPaired = loss.dataKind() == PreferenceLoss.DataKind.PAIRED;
        if (!wantPaired && train.paired()) {
            train = train.toUnpaired(cfg.optimization().seed());
            say.accept(String.format(Locale.ROOT, "train: %d pairs → %d unpaired examples for %s (shuffled, labels mixed)",
                    train.size() / 2, train.size(), loss.name()));
        } else if (wantPaired && !train.paired()) {
            throw new Align4jException((cfg.data().trainFile().isEmpty() ? "the training data" : cfg.data().trainFile())
                    + ": unpaired (prompt, completion, label) data, but loss '" + loss.name()
                    + "' needs pairs. Use loss_type kto, or paired data.");
        }
        if (eval != null && !wantPaired && eval.paired()) {
            eval = eval.toUnpaired(cfg.optimization().seed());
        }
        return new RunData(train.paired() ? train.pairs() : null, train.paired() ? null : train.unpaired(),
                eval != null && eval.paired() ? eval.pairs() : null, eval != null && !eval.paired() ? eval.unpaired() : null);
    }

    /**
     * The data options: the caller's (layout, columns, bad rows, caches; null: the defaults) with the config's
     * max lengths and chat-template settings, which are set in one place: the config.
     */
    static DataOptions options(DataOptions given, TrainConfig cfg) {
        DataOptions o = (given != null ? given : DataOptions.defaults())
                .withMaxLength(cfg.data().maxLength()).withMaxPromptLength(cfg.data().maxPromptLength())
                .withApplyChatTemplate(cfg.data().applyChatTemplate());
        if (!cfg.data().chatTemplate().isEmpty()) {
            o = o.withChatTemplateFile(Path.of(cfg.data().chatTemplate()));
        }
        return o;
    }

    private static void report(String what, PreferenceData d, Consumer<String> say) {
        DataStats s = d.stats();
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%s: %s, layout %s, %d rows read, %d kept", what,
                d.files().size() == 1 ? d.files().get(0) : d.files().size() + " files", d.layout(), s.rowsRead(), s.kept()));
        if (!s.dropped().isEmpty()) {
            sb.append(", dropped ").append(s.dropped());
        }
        if (s.badRows() > 0) {
            sb.append(", ").append(s.badRows()).append(" bad rows skipped");
        }
        sb.append(d.fromCache() ? " (tokenized cache)" : "");
        say.accept(sb.toString());
    }

    /** The memory plan for the training data's longest sequence and longest completion. */
    MemoryPlan memoryPlan(TrainConfig cfg, ModelConfig mc, Device device) {
        int longest = 1;
        int completion = 1;
        if (trainPairs != null) {
            for (var p : trainPairs) {
                int c = Math.max(p.chosen().length, p.rejected().length);
                longest = Math.max(longest, p.prompt().length + c);
                completion = Math.max(completion, c);
            }
        } else {
            for (var u : trainUnpaired) {
                longest = Math.max(longest, u.prompt().length + u.completion().length);
                completion = Math.max(completion, u.completion().length);
            }
        }
        return MemoryPlan.from(cfg, mc, device).tokens(longest, Math.min(completion, longest)).build();
    }
}
