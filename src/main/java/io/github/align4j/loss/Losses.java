package io.github.align4j.loss;

import io.github.align4j.internal.Texts;
import io.github.align4j.Align4jException;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * Creates losses by name. Options use TRL / alignment-handbook names: {@code label_smoothing}
 * (dpo, robust, simpo, exo_pair, aot, aot_unpaired), {@code simpo_gamma} (simpo), {@code desirable_weight}
 * and {@code undesirable_weight} (kto, apo_zero_unpaired), {@code kl_detach} (kto_pair), {@code discopop_tau}
 * (discopop). TRL's {@code sigmoid} is
 * accepted as another name for {@code dpo}. A number may be given as a {@link Number} or as text;
 * a boolean as a {@link Boolean} or {@code "true"}/{@code "false"}.
 *
 * <p>A custom loss is named by its fully qualified class name; it must implement
 * {@link PairedLoss} or {@link UnpairedLoss} and have a public constructor taking
 * {@code Map<String, Object>} (receives every option as given: numbers as {@link Double}, booleans
 * as {@link Boolean}, other values as text) or {@code Map<String, Double>} (every option must then
 * be a number), or else a public no-arg constructor (the loss then takes no options). A custom loss with a map constructor reads every option it is given; it should throw
 * an {@link Align4jException} naming any key it does not know.
 */
public final class Losses {
    public static final String LABEL_SMOOTHING = "label_smoothing";
    public static final String SIMPO_GAMMA = "simpo_gamma";
    public static final String DESIRABLE_WEIGHT = "desirable_weight";
    public static final String UNDESIRABLE_WEIGHT = "undesirable_weight";

    public static final String KL_DETACH = "kl_detach";
    public static final String DISCOPOP_TAU = "discopop_tau";

    /** How to make one loss: the options it reads ({@code null}: all, for custom classes). */
    private record Factory(String name, Set<String> options, Function<Map<String, Object>, PreferenceLoss> make) {}

    private static final Map<String, Factory> BUILTINS = new LinkedHashMap<>();
    private static final Map<String, String> ALIASES = Map.of("sigmoid", "dpo");

    static {
        add("dpo", o -> new Dpo(number("dpo", o, LABEL_SMOOTHING, 0.0)), LABEL_SMOOTHING);
        add("ipo", o -> new Ipo());
        add("kto_pair", o -> new KtoPair(bool("kto_pair", o, KL_DETACH, KtoPair.DEFAULT_KL_DETACH)), KL_DETACH);
        add("kto", o -> new Kto(number("kto", o, DESIRABLE_WEIGHT, 1.0), number("kto", o, UNDESIRABLE_WEIGHT, 1.0)),
                DESIRABLE_WEIGHT, UNDESIRABLE_WEIGHT);
        add("hinge", o -> new Hinge());
        add("robust", o -> new Robust(number("robust", o, LABEL_SMOOTHING, 0.0)), LABEL_SMOOTHING);
        add("sppo_hard", o -> new SppoHard());
        add("nca_pair", o -> new NcaPair());
        add("apo_zero", o -> new ApoZero());
        add("apo_down", o -> new ApoDown());
        add("simpo", o -> new Simpo(number("simpo", o, SIMPO_GAMMA, 0.5), number("simpo", o, LABEL_SMOOTHING, 0.0)),
                SIMPO_GAMMA, LABEL_SMOOTHING);
        add("sft", o -> new Sft());
        add("exo_pair", o -> new ExoPair(number("exo_pair", o, LABEL_SMOOTHING, 0.0)), LABEL_SMOOTHING);
        add("bco_pair", o -> new BcoPair());
        add("aot", o -> new Aot(number("aot", o, LABEL_SMOOTHING, 0.0)), LABEL_SMOOTHING);
        add("aot_unpaired", o -> new AotUnpaired(number("aot_unpaired", o, LABEL_SMOOTHING, 0.0)), LABEL_SMOOTHING);
        add("discopop", o -> new DiscoPop(number("discopop", o, DISCOPOP_TAU, DiscoPop.DEFAULT_TAU)), DISCOPOP_TAU);
        add("sigmoid_norm", o -> new SigmoidNorm());
        add("apo_zero_unpaired", o -> new ApoZeroUnpaired(number("apo_zero_unpaired", o, DESIRABLE_WEIGHT, 1.0),
                number("apo_zero_unpaired", o, UNDESIRABLE_WEIGHT, 1.0)), DESIRABLE_WEIGHT, UNDESIRABLE_WEIGHT);
    }

    private Losses() {}

    private static void add(String name, Function<Map<String, Object>, PreferenceLoss> make, String... options) {
        BUILTINS.put(name, new Factory(name, Set.of(options), make));
    }

    /** A number option: a {@link Number} or text that parses as one. */
    static double number(String loss, Map<String, Object> o, String key, double dflt) {
        Object v = o.get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        try {
            return Double.parseDouble(v.toString().trim());
        } catch (NumberFormatException e) {
            throw new Align4jException("Option " + key + " of loss '" + loss + "' must be a number, got '" + v
                    + "': set e.g. " + key + "=" + dflt + ".");
        }
    }

    /** A boolean option: a {@link Boolean} or the text true / false. */
    static boolean bool(String loss, Map<String, Object> o, String key, boolean dflt) {
        Object v = o.get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        String t = v.toString().trim().toLowerCase(Locale.ROOT);
        if (t.equals("true") || t.equals("false")) {
            return Boolean.parseBoolean(t);
        }
        throw new Align4jException("Option " + key + " of loss '" + loss + "' must be true or false, got '" + v + "'.");
    }

    /**
     * Whether a loss reads an option: a built-in reads only its own; a custom class with a map
     * constructor reads every option; one with only a no-arg constructor none.
     *
     * @param spec a built-in name or a custom loss's fully qualified class name
     */
    public static boolean reads(String spec, String option) {
        Set<String> o = factory(spec).options();
        return o == null || o.contains(option);
    }

    /** The built-in loss names, in a fixed order. */
    public static List<String> builtins() {
        return List.copyOf(BUILTINS.keySet());
    }

    /**
     * @param spec a built-in name (see {@link #builtins()}) or a custom loss's fully qualified class name
     * @param options options by TRL name; each must be one the loss reads ({@code null}: none)
     */
    public static PreferenceLoss create(String spec, Map<String, ?> options) {
        Map<String, Object> opts = options == null ? Map.of() : new LinkedHashMap<>(options);
        Factory f = factory(spec);
        for (String key : opts.keySet()) {
            if (f.options() != null && !f.options().contains(key)) {
                throw new Align4jException("Option " + key + " is not used by loss '" + f.name() + "' ("
                        + describeOptions(f) + "); remove it" + usersOf(key) + ".");
            }
        }
        return f.make().apply(opts);
    }

    /**
     * A weighted sum of losses, as given by {@code --loss-weights dpo=1,sft=0.5}.
     *
     * @param weights loss spec → weight (&gt; 0), in order
     * @param options options by TRL name; each goes to the parts that read it and must be read by one
     */
    public static PreferenceLoss weighted(Map<String, Double> weights, Map<String, ?> options) {
        Map<String, Object> opts = options == null ? Map.of() : new LinkedHashMap<>(options);
        if (weights == null || weights.isEmpty()) {
            throw new Align4jException("--loss-weights is empty: give at least one loss, e.g. dpo=1,sft=0.5.");
        }
        Set<String> used = new TreeSet<>();
        List<WeightedLoss.Term> terms = new ArrayList<>();
        for (Map.Entry<String, Double> e : weights.entrySet()) {
            Factory f = factory(e.getKey());
            Map<String, Object> own = new LinkedHashMap<>();
            opts.forEach((k, v) -> {
                if (f.options() == null || f.options().contains(k)) {
                    own.put(k, v);
                }
            });
            used.addAll(own.keySet());
            Double w = e.getValue();
            terms.add(new WeightedLoss.Term(f.make().apply(own), w == null ? Double.NaN : w));
        }
        for (String key : opts.keySet()) {
            if (!used.contains(key)) {
                throw new Align4jException("Option " + key + " is not used by any loss in --loss-weights "
                        + weights.keySet() + "; remove it" + usersOf(key) + ".");
            }
        }
        return terms.size() == 1 && terms.get(0).weight() == 1 ? terms.get(0).loss() : WeightedLoss.of(terms);
    }

    private static Factory factory(String spec) {
        String name = spec == null ? "" : spec.trim();
        Factory f = BUILTINS.get(ALIASES.getOrDefault(name, name));
        if (f != null) {
            return f;
        }
        if (name.contains(".")) {
            return custom(name);
        }
        throw new Align4jException("Unknown loss '" + name + "'" + nearest(name) + " Built-in losses: "
                + String.join(", ", builtins())
                + "; for a custom loss give its fully qualified class name (e.g. com.example.MyLoss).");
    }

    private static Factory custom(String className) {
        ClassLoader loader = Thread.currentThread().getContextClassLoader();
        Class<?> c;
        try {
            // not initialized: a class named in a recipe runs no static initializer until it is known to be a loss
            c = Class.forName(className, false, loader != null ? loader : Losses.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            throw new Align4jException("Cannot load loss class " + className + " (" + e
                    + "): check the name and put the jar that holds it on the class path, or use a built-in loss: "
                    + String.join(", ", builtins()) + ".", e);
        }
        if (!PreferenceLoss.class.isAssignableFrom(c)) {
            throw new Align4jException("Class " + className + " is not a loss: it must implement "
                    + PairedLoss.class.getName() + " or " + UnpairedLoss.class.getName() + ".");
        }
        if (c.isInterface() || Modifier.isAbstract(c.getModifiers())) {
            throw new Align4jException("Loss class " + className + " is abstract: name a concrete class.");
        }
        Constructor<?> withOptions = constructor(c, Map.class);
        Constructor<?> noArg = constructor(c);
        if (withOptions == null && noArg == null) {
            throw new Align4jException("Loss class " + className + " needs a public no-arg constructor or a public"
                    + " constructor taking Map<String, Object> (the loss options).");
        }
        Set<String> options = withOptions != null ? null : Set.of();
        boolean onlyNumbers = withOptions != null && takesDoubles(withOptions);
        return new Factory(className, options,
                o -> withOptions != null ? instantiate(withOptions, onlyNumbers ? doubles(className, o)
                        : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(o))) : instantiate(noArg));
    }

    /** Whether a map constructor's values are declared as {@code Double} (or {@code Number}). */
    private static boolean takesDoubles(Constructor<?> ctor) {
        java.lang.reflect.Type t = ctor.getGenericParameterTypes()[0];
        if (t instanceof java.lang.reflect.ParameterizedType p && p.getActualTypeArguments().length == 2) {
            java.lang.reflect.Type v = p.getActualTypeArguments()[1];
            return v == Double.class || v == Number.class;
        }
        return false;
    }

    /** Options for a {@code Map<String, Double>} constructor: every value must be a number. */
    private static Map<String, Double> doubles(String className, Map<String, Object> o) {
        Map<String, Double> m = new LinkedHashMap<>();
        o.forEach((k, v) -> {
            Double d = null;
            if (v instanceof Number n) {
                d = n.doubleValue();
            } else if (v != null) {
                try {
                    d = Double.parseDouble(v.toString().trim());
                } catch (NumberFormatException e) {
                    d = null;
                }
            }
            if (d == null) {
                throw new Align4jException("Option " + k + "='" + v + "' of loss " + className + " is not a number, and the"
                        + " class takes Map<String, Double>: give a number, or give the class a public constructor taking"
                        + " Map<String, Object> to receive other values.");
            }
            m.put(k, d);
        });
        return java.util.Collections.unmodifiableMap(m);
    }

    private static Constructor<?> constructor(Class<?> c, Class<?>... params) {
        try {
            return c.getConstructor(params);
        } catch (NoSuchMethodException e) {
            return null;
        }
    }

    private static PreferenceLoss instantiate(Constructor<?> ctor, Object... args) {
        String cls = ctor.getDeclaringClass().getName();
        try {
            return (PreferenceLoss) ctor.newInstance(args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof Align4jException a) {
                throw a;
            }
            throw new Align4jException("The constructor of loss class " + cls + " failed: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new Align4jException("Cannot instantiate loss class " + cls + " (" + e
                    + "): make the class and its constructor public.", e);
        }
    }

    private static String describeOptions(Factory f) {
        if (f.options() == null) {
            return "it reads all options";
        }
        return f.options().isEmpty() ? "it takes no options" : "it takes " + String.join(", ", new TreeSet<>(f.options()));
    }

    private static String usersOf(String key) {
        List<String> users = BUILTINS.values().stream().filter(f -> f.options().contains(key)).map(Factory::name).toList();
        return users.isEmpty() ? "" : " (losses that use " + key + ": " + String.join(", ", users) + ")";
    }

    private static String nearest(String name) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : builtins()) {
            int d = Texts.distance(name.toLowerCase(Locale.ROOT), candidate);
            if (d < bestDistance) {
                best = candidate;
                bestDistance = d;
            }
        }
        return "; did you mean '" + best + "'?";
    }
}
