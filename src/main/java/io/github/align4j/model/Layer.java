package io.github.align4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Base of the decoder's DJL blocks. Each parameter is registered under its full Hugging Face tensor
 * name in an explicit model-wide table ({@link Registry}), because DJL prefixes block parameter
 * names with counters. Arrays are set by the loader or {@code init}, never by DJL's initializers.
 */
abstract class Layer extends AbstractBlock {
    private final String prefix;
    private final Registry registry;

    /**
     * @param prefix this block's Hugging Face name prefix, e.g. {@code model.layers.3.self_attn.}
     * @param registry the model-wide table of parameters, filled by {@link #param}
     */
    Layer(String prefix, Registry registry) {
        super((byte) 1);
        this.prefix = prefix;
        this.registry = registry;
    }

    /** Registers a parameter under {@code prefix + name} with the shape the checkpoint must have. */
    final Parameter param(String name, long... shape) {
        String full = prefix + name;
        Parameter p = Parameter.builder().setName(full).setType(Parameter.Type.WEIGHT).build();
        addParameter(p);
        registry.params.put(full, p);
        registry.shapes.put(full, new Shape(shape));
        return p;
    }

    /** A child block, registered with DJL so that the block tree can be printed and walked. */
    final <B extends Layer> B child(String name, B block) {
        addChildBlock(name, block);
        return block;
    }

    /** The current array of a parameter. */
    static NDArray w(Parameter p) {
        return p.getArray();
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " is called through its typed forward");
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return inputShapes;
    }

    /** Hugging Face tensor name → parameter and expected shape, in registration order. */
    static final class Registry {
        final Map<String, Parameter> params = new LinkedHashMap<>();
        final Map<String, Shape> shapes = new LinkedHashMap<>();
    }
}
