package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.internal.Offline;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code demo --online} at a test-only size: both methods per seed, the same judge budget, the files. */
class OnlineStudyTest {
    static {
        Offline.ensure();
    }

    @Test
    void offlineAndOnlineSpendTheSameJudgeCallsAndAreReportedWithIntervals(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("demo");
        Demo.Options o = DemoTest.tiny(out); // 144 training prompts × 4 samples: 576 judge calls for each method
        OnlineStudy.Outcome r = OnlineStudy.run(o, 0.1, null);
        assertEquals(4, r.rows().size());
        assertEquals(List.of("offline DPO", "online DPO", "offline DPO", "online DPO"),
                r.rows().stream().map(OnlineStudy.Row::method).toList());
        assertEquals(List.of(3L, 3L, 4L, 4L), r.rows().stream().map(OnlineStudy.Row::seed).toList());
        for (OnlineStudy.Row row : r.rows()) {
            assertEquals(576, row.judgeCalls(), row.toString());
            JudgeEval e = row.eval();
            assertTrue(e.winRateLow() <= e.winRate() && e.winRate() <= e.winRateHigh(), row.toString());
        }
        assertEquals(576 / (2 * 4), r.rows().get(1).steps()); // batch 8 → 4 prompts a step × 2 samples
        assertEquals(o.steps(), r.rows().get(0).steps());
        List<String> csv = Files.readAllLines(out.resolve("online.csv"));
        assertEquals(5, csv.size());
        assertTrue(csv.get(0).startsWith("method,seed,judge_calls,steps,win_rate,win_rate_low,win_rate_high"), csv.get(0));
        String md = Files.readString(out.resolve("online.md"));
        assertTrue(md.contains(r.table()) && md.contains("| **online DPO** | mean of 2 |"), md);
        double w = r.rows().get(1).eval().winRate();
        double w2 = r.rows().get(3).eval().winRate();
        assertTrue(md.contains(String.format(java.util.Locale.ROOT, "%.1f%% ± %.1f", 50 * (w + w2),
                100 * OnlineStudy.sd(new double[] {w, w2}))), md);
    }
}
