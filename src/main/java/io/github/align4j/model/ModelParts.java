package io.github.align4j.model;

import io.github.align4j.model.internal.ModelDtypes;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What one {@link CausalLM} is made of: its config, the manager that owns its weights, the decoder its
 * family built, the parameter table (Hugging Face tensor name → parameter and shape, in checkpoint
 * order), the projections by module name, and where the weights came from. Built with parameters but
 * no arrays; {@link WeightLoader} or {@link RandomWeights} fills them, {@link ModelWriter} reads them,
 * {@link CausalLM} is the public face.
 */
final class ModelParts implements AutoCloseable {
    final ModelConfig config;
    final NDManager manager;
    final Decoder decoder;
    /** Hugging Face tensor name → parameter, in checkpoint order. */
    final Map<String, Parameter> params;
    /** Hugging Face tensor name → shape, in checkpoint order. */
    final Map<String, Shape> shapes;
    /** Hugging Face module name → projection, every q/k/v/o/gate/up/down or c_attn/c_proj/c_fc (never the head). */
    final Map<String, Linear> linears;
    final boolean trainable;
    /** The type the source checkpoint stored its weights in (F32 for a random model). */
    final SafeTensors.DType storedType;
    /** The folder the weights were loaded from, or null. */
    final Path source;
    /** The checkpoint some arrays alias (kept open until {@link #close}), or null. */
    SafeTensors.Checkpoint mapped;

    /** A model of {@code config} on {@code o}'s device, its parameters registered but without arrays yet. */
    ModelParts(ModelConfig config, CausalLM.Options o, SafeTensors.DType storedType, Path source) {
        this.config = config;
        this.manager = NDManager.newBaseManager(o.device());
        Layer.Registry r = new Layer.Registry();
        this.decoder = ModelFamily.of(config).build(config, r, manager);
        this.decoder.compute = ModelDtypes.computeType(o.dataType(), o.device());
        this.params = Collections.unmodifiableMap(r.params);
        this.shapes = r.shapes;
        this.linears = Collections.unmodifiableMap(r.linears);
        this.trainable = o.trainable();
        this.storedType = storedType;
        this.source = source;
    }

    /** Hugging Face tensor name → the live weight array, in checkpoint order (a new map). */
    Map<String, NDArray> arrays() {
        Map<String, NDArray> m = new LinkedHashMap<>();
        params.forEach((k, p) -> m.put(k, p.getArray()));
        return m;
    }

    /** The type the weights are held in. */
    DataType weightType() {
        return params.values().iterator().next().getArray().getDataType();
    }

    /** Number of weights. */
    long parameterCount() {
        long n = 0;
        for (Map.Entry<String, Shape> e : shapes.entrySet()) {
            n += e.getValue().size();
        }
        return n;
    }

    @Override
    public void close() {
        manager.close();
        if (mapped != null) {
            mapped.close();
            mapped = null;
        }
    }
}
