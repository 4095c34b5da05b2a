package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import io.github.align4j.Align4jException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Loads a {@link CausalLM}: fills its parameters from a safetensors checkpoint, one tensor at a time, with
 * bounded memory:
 * <ul>
 *   <li>a frozen float32 model on the CPU aliases the memory-mapped F32 tensors (no copy);
 *   <li>every other tensor is read with positional reads (never mapped, so the file's pages do not
 *       stay resident in this process) into one reusable buffer, converted there in place to the
 *       model's type (BF16 → F16 directly, F32 → F16, F16/BF16 → F32), and copied into a native
 *       array the model owns. Peak memory is the weights in their final type plus that one buffer
 *       (the largest tensor).
 * </ul>
 * Every value must be finite, and fit float16 when the model is float16 (a BF16 or F32 value beyond
 * ±65504 is refused, naming the tensor, the element and the value).
 */
final class WeightLoader {
    private WeightLoader() {}

    /**
     * {@link CausalLM#load}: refuses options that cannot be built, reads config.json and checks it
     * against the weights' headers, builds the model and fills it, closing what it opened on failure.
     */
    static CausalLM load(Path dir, CausalLM.Options options) {
        check(options);
        ModelConfig config = ModelConfig.load(dir);
        SafeTensors.Checkpoint ckpt = SafeTensors.open(dir);
        try {
            WeightsCheck.check(config, ckpt, Files.isDirectory(dir) ? dir.resolve("config.json") : dir);
        } catch (RuntimeException e) {
            ckpt.close();
            throw e;
        }
        ModelParts parts = new ModelParts(config, options, ckpt.dominantDType(), dir);
        boolean aliased;
        try {
            aliased = fill(ckpt, config, parts.params, parts.shapes, parts.manager, options);
        } catch (RuntimeException e) {
            parts.close();
            ckpt.close();
            throw e;
        }
        if (aliased) {
            parts.mapped = ckpt;
        } else {
            ckpt.close();
        }
        return new CausalLM(parts);
    }

    /** Refuses what cannot be built: a type other than FLOAT32/FLOAT16, or trainable float16 weights. */
    static void check(CausalLM.Options o) {
        DataType dataType = o.dataType();
        if (dataType != DataType.FLOAT32 && dataType != DataType.FLOAT16) {
            throw new Align4jException("CausalLM.Options: weights are held as FLOAT32 or FLOAT16, not " + dataType
                    + (dataType == DataType.BFLOAT16 ? " (DJL's PyTorch engine cannot hold bfloat16; ModelDtypes.resolve "
                            + "maps torch_dtype bfloat16 to FLOAT16)" : ""));
        }
        if (o.trainable() && dataType == DataType.FLOAT16) {
            throw new Align4jException("full fine-tuning in float16 is not supported (it needs float32 master weights "
                    + "and loss scaling, which align4j does not build): train LoRA adapters on a float16 base instead "
                    + "(use_peft: true with torch_dtype: float16, or --use-peft --torch-dtype float16), "
                    + "or train all weights in float32 (torch_dtype: float32)");
        }
    }

    /** {@link CausalLM#frozenCopy()}: a frozen model holding a copy of each of {@code from}'s weights. */
    static CausalLM frozenCopy(ModelParts from) {
        ModelParts to = new ModelParts(from.config, new CausalLM.Options(from.manager.getDevice(), false,
                from.weightType()), from.storedType, from.source);
        for (Map.Entry<String, Parameter> e : from.params.entrySet()) {
            NDArray view = e.getValue().getArray().stopGradient(); // shares storage: copy it
            NDArray a = view.duplicate();
            view.close();
            a.attach(to.manager);
            a.setName(e.getKey());
            to.params.get(e.getKey()).setArray(a);
        }
        return new CausalLM(to);
    }

    /**
     * @return whether some array aliases the checkpoint's mapped memory (the caller keeps it open)
     */
    static boolean fill(SafeTensors.Checkpoint ckpt, ModelConfig config, Map<String, Parameter> params,
            Map<String, Shape> shapes, NDManager manager, CausalLM.Options o) {
        DataType target = o.dataType();
        boolean alias = !o.trainable() && !o.device().isGpu() && target == DataType.FLOAT32;
        boolean aliased = false;
        ModelFamily family = ModelFamily.of(config);
        ByteBuffer buf = null; // reused for every tensor that is read rather than mapped
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            String name = e.getKey();
            String stored = null;
            for (String candidate : family.checkpointNames(name)) {
                if (ckpt.contains(candidate)) {
                    stored = candidate;
                    break;
                }
            }
            if (stored == null) {
                ckpt.require(name, "a " + config.modelType() + " model with " + config.numLayers() + " layers"
                        + (name.equals("lm_head.weight") ? " and tie_word_embeddings=false" : "")); // throws
            }
            SafeTensorsReader.Slot s = ckpt.slot(stored);
            Path file = ckpt.file(s);
            Shape want = shapes.get(name);
            if (!new Shape(s.shape()).equals(want)) {
                throw new Align4jException(file + ": tensor '" + s.name() + "' has shape " + new Shape(s.shape())
                        + " but config.json implies " + want + "; the weights do not belong to this config.json");
            }
            if (s.dtype() == SafeTensors.DType.I64) {
                throw new Align4jException(file + ": tensor '" + s.name() + "' is I64; weights must be F32, F16 or BF16");
            }
            NDArray a;
            if (alias && s.dtype() == SafeTensors.DType.F32) {
                SafeTensors.Tensor t = ckpt.get(stored);
                ByteBuffer data = t.asFloat32();
                t.requireFinite(data); // one pass; a diverged checkpoint must not train, score or be saved as good
                a = manager.create(data, want, DataType.FLOAT32);
                aliased = true;
            } else {
                long n = want.size();
                long need = Math.max(s.length(), n * target.getNumOfBytes());
                if (need > Integer.MAX_VALUE) {
                    throw new Align4jException(file + ": tensor '" + s.name() + "' has " + n + " elements, over 2 GiB "
                            + "as " + target + " (the largest Java buffer). Save the checkpoint with that tensor split.");
                }
                if (buf == null) {
                    buf = ByteBuffer.allocateDirect((int) maxBytes(ckpt, family, params.keySet(), shapes, target))
                            .order(ByteOrder.LITTLE_ENDIAN);
                }
                ByteBuffer raw = ckpt.read(s, buf);
                ByteBuffer out = convert(raw, (int) n, s.dtype(), target, file, s.name());
                NDArray view = manager.create(out, want, target);
                if (manager.getDevice().isGpu()) {
                    a = view; // DJL copies a buffer to the GPU itself
                } else {
                    a = view.duplicate(); // on the CPU the array aliases buf, which the next tensor overwrites
                    view.close();
                }
            }
            a.setName(name);
            e.getValue().setArray(a);
        }
        if (o.trainable()) {
            for (Parameter p : params.values()) {
                p.getArray().setRequiresGradient(true);
            }
        }
        return aliased;
    }

    /** The reusable buffer's size: the most bytes any one tensor needs, as stored or as converted. */
    private static long maxBytes(SafeTensors.Checkpoint ckpt, ModelFamily family, Iterable<String> names,
            Map<String, Shape> shapes, DataType target) {
        long max = 0;
        for (String name : names) {
            for (String candidate : family.checkpointNames(name)) {
                SafeTensorsReader.Slot s = ckpt.slot(candidate);
                if (s != null) {
                    max = Math.max(max, Math.max(s.length(), shapes.get(name).size() * target.getNumOfBytes()));
                    break;
                }
            }
        }
        return Math.min(max, Integer.MAX_VALUE);
    }

    /**
     * {@code n} values of {@code from} at the start of {@code raw}'s buffer, converted in place to
     * {@code to} (FLOAT32 or FLOAT16) and checked; returns a little-endian view of the result. The
     * buffer's capacity must hold the converted values.
     *
     * @throws Align4jException for a value that is not finite, or does not fit float16
     */
    static ByteBuffer convert(ByteBuffer raw, int n, SafeTensors.DType from, DataType to, Path file, String name) {
        ByteBuffer b = raw.duplicate().clear().order(ByteOrder.LITTLE_ENDIAN);
        if (b.capacity() < (long) n * to.getNumOfBytes()) {
            throw new IllegalArgumentException("a buffer of " + b.capacity() + " bytes cannot hold " + n + " " + to);
        }
        if (to == DataType.FLOAT32) {
            if (from != SafeTensors.DType.F32) {
                widenInPlace(b, n, from == SafeTensors.DType.BF16);
            }
            ByteBuffer f32 = b.limit(n * 4).slice().order(ByteOrder.LITTLE_ENDIAN);
            new SafeTensors.Tensor(name, from, new long[] {n}, file, f32).requireFinite(f32);
            return f32;
        }
        if (to != DataType.FLOAT16) {
            throw new IllegalArgumentException("weights load as FLOAT32 or FLOAT16, not " + to);
        }
        ShortBuffer half = b.asShortBuffer();
        if (from == SafeTensors.DType.F32) {
            IntBuffer in = b.asIntBuffer();
            for (int i = 0; i < n; i++) { // forward: short i (bytes 2i..) never overwrites an unread int j > i-1
                float f = Float.intBitsToFloat(in.get(i));
                short h = SafeTensorsWriter.f16(f);
                if ((h & 0x7c00) == 0x7c00) {
                    throw unfit(file, name, n, i, f);
                }
                half.put(i, h);
            }
        } else if (from == SafeTensors.DType.BF16) {
            for (int i = 0; i < n; i++) {
                float f = Float.intBitsToFloat((half.get(i) & 0xffff) << 16);
                short h = SafeTensorsWriter.f16(f);
                if ((h & 0x7c00) == 0x7c00) {
                    throw unfit(file, name, n, i, f);
                }
                half.put(i, h);
            }
        } else {
            for (int i = 0; i < n; i++) {
                short h = half.get(i);
                if ((h & 0x7c00) == 0x7c00) {
                    throw unfit(file, name, n, i, Float.intBitsToFloat(SafeTensors.halfToFloatBits(h)));
                }
            }
        }
        return b.limit(n * 2).slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Widens {@code n} F16 or BF16 values at bytes [0, 2n) into F32 at bytes [0, 4n), from the last
     * element down: float i (bytes 4i..4i+3) only overwrites halves i' ≥ i, already read.
     */
    static void widenInPlace(ByteBuffer b, int n, boolean bf16) {
        ShortBuffer in = b.asShortBuffer();
        FloatBuffer out = b.asFloatBuffer();
        for (int i = n - 1; i >= 0; i--) {
            short h = in.get(i);
            out.put(i, Float.intBitsToFloat(bf16 ? (h & 0xffff) << 16 : SafeTensors.halfToFloatBits(h)));
        }
    }

    private static Align4jException unfit(Path file, String name, long size, long at, float v) {
        if (!Float.isFinite(v)) {
            return new Align4jException(file + ": tensor '" + name + "' holds " + v + " at element " + at
                    + " (of " + size + "); the weights are damaged (a diverged or corrupted checkpoint). "
                    + "align4j refuses weights that are not finite numbers: use an earlier checkpoint or "
                    + "download the model again.");
        }
        return new Align4jException(file + ": tensor '" + name + "' holds " + v + " at element " + at + " (of " + size
                + "), beyond float16's range (±65504), so the model cannot be held in float16; load it as float32 "
                + "(torch_dtype float32 / --torch-dtype float32).");
    }
}
