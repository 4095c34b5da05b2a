package io.github.align4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.model.CausalLM;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** init reports progress while it draws a large model, and the library passes every tensor's count to it. */
class InitProgressTest {
    @Test
    void largeModelsShowProgressSmallOnesDoNot() {
        StringWriter w = new StringWriter();
        var p = InitCommand.progress(new PrintWriter(w, true));
        p.accept(1_000L, 10_000_000L);
        p.accept(10_000_000L, 10_000_000L);
        assertEquals("", w.toString(), "a small model prints nothing");
        p.accept(7_000_000_000L, 7_000_000_000L);
        assertTrue(w.toString().contains("init: 7,000,000,000 of 7,000,000,000 parameters drawn (100%)"), w.toString());
    }

    @Test
    void theLibraryReportsEachTensor(@TempDir Path dir) {
        List<long[]> calls = new ArrayList<>();
        CausalLM.Written w = CausalLM.init("llama", Map.of("hidden_size", 32, "intermediate_size", 64, "num_hidden_layers", 1,
                "num_attention_heads", 4), "test", null, dir.resolve("m"), 1, (done, total) -> calls.add(new long[] {done, total}));
        assertTrue(calls.size() > 5, "one call per tensor");
        long[] last = calls.get(calls.size() - 1);
        assertEquals(last[1], last[0], "the last call has drawn everything");
        assertEquals(w.parameterCount(), last[1]);
    }
}
