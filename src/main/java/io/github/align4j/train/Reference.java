package io.github.align4j.train;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.SequenceScorer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The frozen reference's log-probabilities: a model given by the caller, loaded from a folder
 * (default: the policy's), a frozen copy of the policy, or, for a policy with LoRA adapters, the
 * policy itself with its adapters off (TRL + PEFT's default: no second model in memory); scored per
 * micro-batch outside the gradient collector, or once for every planned sequence into an on-disk
 * cache keyed by the reference's weights ({@code precompute_ref_log_probs}).
 */
final class Reference implements AutoCloseable {
    private final Supplier<CausalLM> loader;
    private final String fingerprint;
    private final CausalLM policy;
    /** True when the reference is the policy with its adapters off. */
    private final boolean adaptersOff;
    private CausalLM model;
    private boolean owned;
    private Map<ReferenceCache.Key, Float> cache;
    /** TR-DPO: the run mixes the policy into this reference, so it must be a model of its own. */
    private boolean syncs;
    /** Whether the reference is a copy that TR-DPO may change in place. */
    private boolean mixable;

    /**
     * @param given a loaded reference the caller keeps (or null)
     * @param path the folder to load it from (null: the policy's own folder, or a frozen copy)
     */
    Reference(CausalLM given, Path path, CausalLM policy, ai.djl.ndarray.types.DataType type) {
        this.policy = policy;
        this.adaptersOff = given == null && path == null && policy.adapterConfig() != null;
        if (adaptersOff) {
            // the base's weights are the reference's: key a cache by the base folder (or by nothing for a fresh init)
            fingerprint = policy.source() != null ? ReferenceCache.weightsFingerprint(policy.source()) : null;
            loader = () -> policy;
        } else if (given != null) {
            model = given;
            loader = () -> given;
            fingerprint = given.source() != null ? ReferenceCache.weightsFingerprint(given.source()) : null;
        } else {
            Path src = path != null ? path : policy.source();
            fingerprint = src != null ? ReferenceCache.weightsFingerprint(src) : null;
            loader = src != null
                    ? () -> CausalLM.load(src, new CausalLM.Options(policy.device(), false, type))
                    : policy::frozenCopy; // fingerprint before training starts: the policy changes
        }
    }

    /**
     * TR-DPO ({@code sync_ref_model}): the run changes the reference's weights, so {@link #prepare} makes
     * it a model of its own (a copy of a reference the caller gave: the caller's model is not changed).
     */
    Reference syncing(boolean on) {
        this.syncs = on;
        return this;
    }

    /** Whether the reference is the policy with its LoRA adapters switched off. */
    boolean adaptersOff() {
        return adaptersOff;
    }

    /** The weights' fingerprint, or null when the reference does not come from a folder. */
    String fingerprint() {
        return fingerprint;
    }

    /** Whether {@link #logps} can answer without {@link #prepare} (a model is loaded or the cache read). */
    boolean ready() {
        return model != null || cache != null;
    }

    /**
     * Loads the reference, or (precompute) reads the cache or scores every request once and
     * writes it.
     *
     * @param requests calls its argument with every (prompt, completion) the run will ask for
     */
    void prepare(boolean precompute, Path cacheDir, int evalBatchSize, Consumer<BiConsumer<int[], int[]>> requests,
            Consumer<String> say) {
        prepare(precompute, cacheDir, evalBatchSize, requests, say, null, null);
    }

    /**
     * As above, with log-probs given per sequence (ref_logps_file: a cluster's reference pass): the given ones
     * are used as they are, the reference scores only the others (none when the file covers the run).
     */
    void prepare(boolean precompute, Path cacheDir, int evalBatchSize, Consumer<BiConsumer<int[], int[]>> requests,
            Consumer<String> say, Map<ReferenceCache.Key, Float> given, String givenFrom) {
        if (given != null) {
            Map<ReferenceCache.Key, Float> m = new HashMap<>();
            List<int[][]> rest = new ArrayList<>();
            Set<ReferenceCache.Key> missing = new java.util.HashSet<>();
            requests.accept((p, c) -> {
                ReferenceCache.Key k = ReferenceCache.key(p, c);
                Float v = given.get(k);
                if (v != null) {
                    m.put(k, v);
                } else if (missing.add(k)) {
                    rest.add(new int[][] {p, c});
                }
            });
            say.accept("reference log-probs: " + m.size() + " sequences from " + givenFrom + (rest.isEmpty()
                    ? " (reference model not loaded)" : "; scoring the " + rest.size() + " it does not cover"));
            if (!rest.isEmpty()) {
                m.putAll(score(rest, evalBatchSize));
            }
            cache = m;
            return;
        }
        if (!precompute) {
            if (model == null) {
                model = loader.get();
                owned = true;
            }
            if (syncs && !mixable) {
                // a copy in memory of its own: a loaded reference may alias its read-only mapped files, and the
                // caller's model must not change
                CausalLM own = model.frozenCopy();
                if (owned && model != policy) {
                    model.close();
                }
                model = own;
                owned = true;
                mixable = true;
                checkMixable();
            }
            return;
        }
        Set<ReferenceCache.Key> needed = new LinkedHashSet<>();
        List<int[][]> work = new ArrayList<>(); // {prompt, completion}
        requests.accept((p, c) -> {
            if (needed.add(ReferenceCache.key(p, c))) {
                work.add(new int[][] {p, c});
            }
        });
        Path dir = cacheDir != null ? cacheDir : defaultCacheDir();
        Path file = dir == null ? null
                : dir.resolve("ref-" + fingerprint + "-" + ReferenceCache.requestsFingerprint(needed) + ".bin");
        Map<ReferenceCache.Key, Float> cached = file == null ? null : ReferenceCache.read(file, needed.size());
        if (cached != null && cached.keySet().containsAll(needed)) {
            cache = cached;
            say.accept("reference log-probs: " + needed.size() + " sequences from " + file + " (reference model not loaded)");
            return;
        }
        if (file != null && java.nio.file.Files.exists(file)) {
            say.accept("warning: " + file + " is not a valid reference cache for this run (damaged or edited: a count or "
                    + "key that does not match the data, or a value that is not a finite log-prob); it is rebuilt");
        }
        say.accept("reference log-probs: scoring " + work.size() + " sequences once, "
                + (file == null ? "kept in memory (no cache folder given)" : "cached in " + file));
        Map<ReferenceCache.Key, Float> m = score(work, evalBatchSize);
        if (file != null) {
            ReferenceCache.write(file, m);
        }
        cache = m;
    }

    /**
     * Scores these (prompt, completion) pairs with the reference, shortest first, in no-graph forwards; two
     * completions of one prompt share a batch where the scorer runs their prompt once ({@link PromptPairs}).
     */
    private Map<ReferenceCache.Key, Float> score(List<int[][]> work, int evalBatchSize) {
        CausalLM ref = model != null ? model : loader.get();
        Map<ReferenceCache.Key, Float> m = new HashMap<>();
        int bs = Math.max(1, evalBatchSize * 2);
        for (List<int[][]> part : PromptPairs.batches(work, bs)) {
            int[][] ps = part.stream().map(x -> x[0]).toArray(int[][]::new);
            int[][] cs = part.stream().map(x -> x[1]).toArray(int[][]::new);
            try (NDManager mgr = ref.manager().newSubManager(); NDScope scope = new NDScope();
                    CausalLM.AdaptersOff off = adaptersOff ? ref.adaptersDisabled() : null) {
                Seqs q = Seqs.of(ps, cs);
                float[] v = SequenceScorer.score(ref, mgr, q.seqs(), q.starts()).logps().toFloatArray();
                for (int i = 0; i < v.length; i++) {
                    m.put(ReferenceCache.key(ps[i], cs[i]), v[i]);
                }
            }
        }
        if (ref != model && ref != policy) {
            ref.close();
        }
        return m;
    }

    /**
     * The cache folder when the caller named none: {@code -Dalign4j.cache}'s {@code reference/}, or null
     * (a library call writes nothing to the home folder: the log-probs stay in memory for the run).
     */
    static Path defaultCacheDir() {
        String p = System.getProperty("align4j.cache");
        return p != null ? Path.of(p).resolve("reference") : null;
    }

    /** Reference log-probs of these sequences, from the cache or a no-graph forward of the reference. */
    float[] logps(int[][] prompts, int[][] completions) {
        return logps(prompts, completions, null, 1);
    }

    /**
     * Reference log-probs with LD-DPO's weighting: each row's first {@code full[i]} completion tokens
     * count fully, the rest times {@code ldAlpha} (null or 1: plain sums). The cache holds plain sums
     * only, so the trainer refuses precompute_ref_log_probs with ld_alpha.
     */
    float[] logps(int[][] prompts, int[][] completions, int[] full, double ldAlpha) {
        if (full != null && ldAlpha != 1 && cache != null) {
            throw new IllegalStateException("the reference cache holds plain sums, not LD-DPO's");
        }
        float[] out = new float[prompts.length];
        if (cache != null) {
            for (int i = 0; i < out.length; i++) {
                Float v = cache.get(ReferenceCache.key(prompts[i], completions[i]));
                if (v == null) {
                    throw new IllegalStateException("reference cache misses a sequence that was planned");
                }
                out[i] = v;
            }
            return out;
        }
        try (NDManager m = model.manager().newSubManager();
                CausalLM.AdaptersOff off = adaptersOff ? model.adaptersDisabled() : null) {
            Seqs s = Seqs.of(prompts, completions);
            return SequenceScorer.score(model, m, s.seqs(), s.starts(), new SequenceScorer.Options(full, ldAlpha, false))
                    .logps().toFloatArray();
        }
    }

    /** TR-DPO needs the reference's weights to match the policy's by name and shape. */
    private void checkMixable() {
        Map<String, ai.djl.ndarray.NDArray> ref = model.parameters();
        for (Map.Entry<String, ai.djl.ndarray.NDArray> e : policy.parameters().entrySet()) {
            ai.djl.ndarray.NDArray r = ref.get(e.getKey());
            if (r == null || !r.getShape().equals(e.getValue().getShape())) {
                throw new io.github.align4j.Align4jException("sync_ref_model (TR-DPO) mixes the policy's weights into the "
                        + "reference, but the reference " + (r == null ? "has no tensor '" + e.getKey() + "'"
                                : "holds '" + e.getKey() + "' as " + r.getShape() + ", not " + e.getValue().getShape())
                        + ": use a reference of the policy's architecture (ref_model), or turn sync_ref_model off");
            }
        }
    }

    /** The reference's weights by Hugging Face name (TR-DPO checkpoints); the reference must be loaded. */
    Map<String, ai.djl.ndarray.NDArray> weights() {
        return model.parameters();
    }

    /**
     * TR-DPO's update (Gorbatovski et al. 2024; TRL's SyncRefModelCallback): every weight of the
     * reference becomes {@code α·policy + (1−α)·reference}, computed in float32 and stored in the
     * reference's own precision, without a gradient.
     */
    void mixIn(double alpha) {
        Map<String, ai.djl.ndarray.NDArray> ref = model.parameters();
        for (Map.Entry<String, ai.djl.ndarray.NDArray> e : policy.parameters().entrySet()) {
            ai.djl.ndarray.NDArray r = ref.get(e.getKey());
            try (NDScope scope = new NDScope()) {
                ai.djl.ndarray.NDArray p = e.getValue().stopGradient().toType(ai.djl.ndarray.types.DataType.FLOAT32, true);
                ai.djl.ndarray.NDArray q = r.toType(ai.djl.ndarray.types.DataType.FLOAT32, true);
                ai.djl.ndarray.NDArray mixed = p.mul((float) alpha).add(q.mul((float) (1 - alpha)));
                if (mixed.getDataType() != r.getDataType()) {
                    mixed = mixed.toType(r.getDataType(), false);
                }
                r.set(new ai.djl.ndarray.index.NDIndex("..."), mixed);
            }
        }
    }

    @Override
    public void close() {
        if (owned && model != null && model != policy) {
            model.close();
            model = null;
        }
    }
}
