package io.github.align4j.loss;

import static io.github.align4j.loss.Fixtures.BETA;
import static io.github.align4j.loss.Fixtures.assertClose;
import static io.github.align4j.loss.Fixtures.mean;
import static io.github.align4j.loss.Fixtures.pairs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Offline;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class LossRegistryTest {
    @BeforeAll
    static void offline() {
        Offline.ensure();
    }

    private static String error(Runnable r) {
        return assertThrows(Align4jException.class, r::run).getMessage();
    }

    @Test
    void builtinsAreCreatedByName() {
        assertEquals(List.of("dpo", "ipo", "kto_pair", "kto", "hinge", "robust", "sppo_hard", "nca_pair",
                "apo_zero", "apo_down", "simpo", "sft", "exo_pair", "bco_pair", "aot", "aot_unpaired", "discopop", "sigmoid_norm",
                "apo_zero_unpaired"), Losses.builtins());
        for (String name : Losses.builtins()) {
            PreferenceLoss loss = Losses.create(name, Map.of());
            assertEquals(name, loss.name());
            assertEquals(name.equals("kto") || name.equals("apo_zero_unpaired") ? PreferenceLoss.DataKind.UNPAIRED : PreferenceLoss.DataKind.PAIRED,
                    loss.dataKind());
            assertEquals(!name.equals("simpo") && !name.equals("sft"), loss.needsReference(), name);
        }
        assertInstanceOf(Dpo.class, Losses.create("sigmoid", null)); // TRL's loss_type name
    }

    @Test
    void optionsReachTheLoss() {
        assertEquals(0.1, ((Dpo) Losses.create("dpo", Map.of("label_smoothing", 0.1))).labelSmoothing());
        assertEquals(0.2, ((Robust) Losses.create("robust", Map.of("label_smoothing", 0.2))).labelSmoothing());
        Simpo simpo = (Simpo) Losses.create("simpo", Map.of("simpo_gamma", 1.0));
        assertEquals(1.0, simpo.gamma());
        assertEquals(0.5, ((Simpo) Losses.create("simpo", Map.of())).gamma());
        Kto kto = (Kto) Losses.create("kto", Map.of("desirable_weight", 1.5, "undesirable_weight", 0.5));
        assertEquals(1.5, kto.desirableWeight());
        assertEquals(0.5, kto.undesirableWeight());
    }

    @Test
    void badOptionsAreNamed() {
        String unused = error(() -> Losses.create("ipo", Map.of("label_smoothing", 0.1)));
        assertTrue(unused.contains("label_smoothing") && unused.contains("'ipo'") && unused.contains("no options")
                && unused.contains("dpo, robust, simpo"), unused);
        String robust = error(() -> Losses.create("robust", Map.of("label_smoothing", 0.5)));
        assertTrue(robust.contains("label_smoothing=0.5") && robust.contains("[0, 0.5)"), robust);
        String weight = error(() -> Losses.create("kto", Map.of("undesirable_weight", -1.0)));
        assertTrue(weight.contains("undesirable_weight=-1.0"), weight);
    }

    @Test
    void unknownNameListsBuiltinsAndTheNearest() {
        String msg = error(() -> Losses.create("kto_pir", Map.of()));
        assertTrue(msg.contains("Unknown loss 'kto_pir'") && msg.contains("did you mean 'kto_pair'?"), msg);
        assertTrue(msg.contains(String.join(", ", Losses.builtins())), msg);
        assertTrue(error(() -> Losses.create("SimPo", Map.of())).contains("did you mean 'simpo'?"));
    }

    @Test
    void customClassesByFullyQualifiedName() {
        PreferenceLoss scaled = Losses.create(ScaledDpo.class.getName(), Map.of("scale", 2.0));
        assertEquals(2.0, ((ScaledDpo) scaled).scale());
        try (NDManager m = NDManager.newBaseManager()) {
            assertClose(2 * 0.6496083621, mean(((PairedLoss) scaled).compute(pairs(m), BETA)));
        }
        assertInstanceOf(NoOptionLoss.class, Losses.create(NoOptionLoss.class.getName(), Map.of()));
        String noOptions = error(() -> Losses.create(NoOptionLoss.class.getName(), Map.of("scale", 2.0)));
        assertTrue(noOptions.contains("Option scale") && noOptions.contains("no options"), noOptions);

        String missing = error(() -> Losses.create("com.example.Missing", Map.of()));
        assertTrue(missing.contains("Cannot load loss class com.example.Missing") && missing.contains("class path"), missing);
        String notALoss = error(() -> Losses.create("java.lang.String", Map.of()));
        assertTrue(notALoss.contains("java.lang.String is not a loss") && notALoss.contains("PairedLoss"), notALoss);
    }

    @Test
    void aClassThatIsNotALossIsRefusedBeforeItsStaticInitializerRuns() throws Exception {
        String name = StaticInitProbe.NotALoss.class.getName(); // a class literal does not initialize
        String notALoss = error(() -> Losses.create(name, Map.of()));
        assertTrue(notALoss.contains(name + " is not a loss"), notALoss);
        assertEquals(0, StaticInitProbe.NOT_A_LOSS_INITS.get(), "the refused class's static initializer ran");
        String weighted = error(() -> Losses.weighted(Map.of(name, 1.0), Map.of()));
        assertTrue(weighted.contains("is not a loss"), weighted);
        assertEquals(0, StaticInitProbe.NOT_A_LOSS_INITS.get());
        // the probe works: initializing the class counts
        Class.forName(name, true, getClass().getClassLoader());
        assertEquals(1, StaticInitProbe.NOT_A_LOSS_INITS.get());
    }

    @Test
    void weightedFromWeightsAndOptions() {
        Map<String, Double> weights = new LinkedHashMap<>();
        weights.put("dpo", 1.0);
        weights.put("sft", 0.5);
        PreferenceLoss rpo = Losses.weighted(weights, Map.of("label_smoothing", 0.1));
        assertEquals("dpo+0.5*sft", rpo.name());
        try (NDManager m = NDManager.newBaseManager()) {
            // cDPO ε = 0.1 plus 0.5 · NLL 2
            assertClose(0.6586083621 + 1.0, mean(((PairedLoss) rpo).compute(pairs(m), BETA)));
        }
        String unused = error(() -> Losses.weighted(weights, Map.of("simpo_gamma", 1.0)));
        assertTrue(unused.contains("simpo_gamma") && unused.contains("[dpo, sft]"), unused);
        assertInstanceOf(Dpo.class, Losses.weighted(Map.of("dpo", 1.0), Map.of())); // a lone weight 1 is the loss itself
        PreferenceLoss kto = Losses.weighted(Map.of("kto", 2.0), Map.of("desirable_weight", 1.2));
        assertInstanceOf(WeightedLoss.Unpaired.class, kto);
        assertTrue(((UnpairedLoss) kto).needsMismatchedPairs());

        Map<String, Double> mixed = new LinkedHashMap<>();
        mixed.put("dpo", 1.0);
        mixed.put("kto", 1.0);
        String mix = error(() -> Losses.weighted(mixed, Map.of()));
        assertTrue(mix.contains("paired and unpaired") && mix.contains("kto (unpaired)"), mix);
        assertTrue(error(() -> Losses.weighted(Map.of("sft", -0.5), Map.of())).contains("sft=-0.5"));
    }

    @Test
    void ktoWeightCheck() {
        assertEquals(Optional.empty(), Kto.checkWeights(100, 100, 1, 1)); // ratio 1
        assertEquals(Optional.empty(), Kto.checkWeights(100, 75, 1, 1)); // ratio 4/3
        // ratio 100/1000 = 0.1: desirable_weight in [10, 13.33]
        String few = Kto.checkWeights(100, 1000, 1, 1).orElseThrow();
        assertTrue(few.contains("= 0.1000") && few.contains("set desirable_weight to a value in [10.00, 13.33]"), few);
        // ratio 2·300/(1·100) = 6: undesirable_weight in [4.5, 6]
        String many = Kto.checkWeights(300, 100, 2, 1).orElseThrow();
        assertTrue(many.contains("set undesirable_weight to a value in [4.500, 6.000]")
                && many.contains("keeping desirable_weight=2"), many);
        assertTrue(Kto.checkWeights(10, 0, 1, 1).orElseThrow().contains("0 undesirable"));
    }

    @Test
    void weightedUnpairedKto() {
        UnpairedLoss twice = (UnpairedLoss) WeightedLoss.of(List.of(new WeightedLoss.Term(new Kto(), 2)));
        assertEquals("2*kto", twice.name());
        try (NDManager m = NDManager.newBaseManager()) {
            LossOutput out = twice.compute(Fixtures.unpaired(m), BETA);
            assertClose(2 * 0.4887544741, mean(out));
            assertClose(0.25, out.metrics().get("kl").getFloat());
        }
    }
}
