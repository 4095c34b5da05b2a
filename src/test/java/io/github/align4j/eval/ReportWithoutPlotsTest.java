package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** XChart is optional for library users: without it the report is whole but for its plots, and says why. */
class ReportWithoutPlotsTest {
    @Test
    void theTestClassPathHasXChart() {
        assertTrue(Report.plotsAvailable());
    }

    @Test
    void withoutXChartTheReportSaysWhichDependenciesDrawThePlots(@TempDir Path dir) throws Exception {
        List<Path> files = Report.write(ReportTest.result(), "scan", "grid: {}", null, dir, false);
        assertEquals(List.of("results.csv", "results_summary.csv", "results.md", "report.html"),
                files.stream().map(p -> p.getFileName().toString()).toList());
        String html = Files.readString(dir.resolve("report.html"));
        assertTrue(html.contains("org.knowm.xchart:xchart:4.0.3 and de.erichseifert.vectorgraphics2d:VectorGraphics2D:0.13"), html);
        assertFalse(html.contains("<svg"), html);
        assertTrue(Files.readString(dir.resolve("results.md")).contains(Report.NO_PLOTS));
        try (var listing = Files.list(dir)) {
            assertEquals(4, listing.count(), "no PNG or SVG written");
        }
    }
}
