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

    /**
     * torch.nn.Linear projections {@code prefix + spec.name}, registered as a group: every weight [out, in]
     * first, then the biases of those that have one (the order the parameter table has always had:
     * optimizer state, checkpoints and the gradient-norm reduction follow it).
     */
    final Linear[] linears(Linear.Spec... specs) {
        Parameter[] weights = new Parameter[specs.length];
        for (int i = 0; i < specs.length; i++) {
            weights[i] = param(specs[i].name() + ".weight", specs[i].out(), specs[i].in());
        }
        Linear[] out = new Linear[specs.length];
        for (int i = 0; i < specs.length; i++) {
            Linear.Spec s = specs[i];
            Parameter bias = s.bias() ? param(s.name() + ".bias", s.out()) : null;
            out[i] = register(new Linear(prefix + s.name(), weights[i], bias, false, s.in(), s.out()));
        }
        return out;
    }

    /** GPT-2's Conv1D {@code prefix + name}: weight stored [in, out], then bias [out]. */
    final Linear conv1d(String name, long in, long out) {
        Parameter weight = param(name + ".weight", in, out);
        Parameter bias = param(name + ".bias", out);
        return register(new Linear(prefix + name, weight, bias, true, in, out));
    }

    private Linear register(Linear l) {
        registry.linears.put(l.name(), l);
        return l;
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

    /**
     * Hugging Face tensor name → parameter and expected shape, in registration order; and module name →
     * projection, for code that finds projections by name (LoRA targets).
     */
    static final class Registry {
        final Map<String, Parameter> params = new LinkedHashMap<>();
        final Map<String, Shape> shapes = new LinkedHashMap<>();
        final Map<String, Linear> linears = new LinkedHashMap<>();
    }
}
