package io.github.align4j.cli;

import static io.github.align4j.cli.InitCommandTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.LoraConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An adapter whose values are finite but huge (3e18: the logits overflow float32) is an error of
 * logprobs, eval and generate (exit 2, naming the model and the adapter and that its weights give
 * non-finite values), never "NaN" printed with exit 0 nor an internal error.
 */
class NonFiniteOutputCommandTest {
    @TempDir
    static Path shared;
    static ChildRun.Tiny tiny;
    static Path adapter;

    @BeforeAll
    static void setUp() throws Exception {
        tiny = ChildRun.Tiny.make(shared);
        adapter = shared.resolve("huge-adapter");
        try (CausalLM lm = CausalLM.load(tiny.model(), new CausalLM.Options(Device.cpu(), false, DataType.FLOAT32))) {
            lm.addAdapters(new LoraConfig(2, 4, 0, List.of(LoraConfig.ALL_LINEAR), false), 1);
            for (NDArray a : lm.trainableParameters().values()) {
                float[] v = new float[Math.toIntExact(a.size())];
                Arrays.fill(v, 3e18f);
                a.set(v);
            }
            lm.saveAdapter(adapter); // finite: a save accepts it
        }
    }

    private static String[] fragments() {
        return new String[] {"the model " + tiny.model() + " with the adapter " + adapter,
            "its weights give non-finite", "(NaN or infinity)"};
    }

    @Test
    void logprobsRefusesInsteadOfPrintingNaN(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("lp.jsonl");
        Cli.Result r = Cli.run("logprobs", "--model", tiny.model().toString(), "--adapter", adapter.toString(), "--data",
                tiny.data().toString(), "--out", out.toString(), "--device", "cpu", "--cache-dir", tiny.cache().toString());
        assertUserError(r, fragments());
        assertUserError(r, "non-finite log-probabilities");
        assertFalse(Files.exists(out), "no output file of NaN: " + r);
        // the base alone scores fine: the check is about this adapter
        Cli.Result base = Cli.run("logprobs", "--model", tiny.model().toString(), "--data", tiny.data().toString(), "--out",
                out.toString(), "--device", "cpu", "--cache-dir", tiny.cache().toString());
        assertEquals(0, base.exit(), base.toString());
        assertFalse(Files.readString(out).contains("NaN"));
    }

    @Test
    void evalRefusesInsteadOfNaNMetrics() {
        Cli.Result r = Cli.run("eval", "--model", tiny.model().toString(), "--adapter", adapter.toString(), "--data",
                tiny.data().toString(), "--device", "cpu", "--json", "--cache-dir", tiny.cache().toString());
        assertUserError(r, fragments());
        assertFalse(r.out().contains("NaN"), r.toString());
    }

    @Test
    void generateIsAUserErrorNotAnInternalOne() {
        Cli.Result r = Cli.run("generate", "--model", tiny.model().toString(), "--adapter", adapter.toString(), "--prompt",
                "Hello", "--max-new-tokens", "3", "--device", "cpu");
        assertUserError(r, fragments());
        assertUserError(r, "non-finite logits");
    }
}
