package io.github.align4j.eval;

import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The files of a sweep: {@code results.csv} (one row per cell: algorithm, β, the other grid
 * fields, every metric), {@code results.md} (rows = algorithm, columns = β, the best cell of each
 * row marked), plots as PNG and SVG drawn with XChart (the primary metric against β per algorithm,
 * as in the blog's scan figures; mean judge reward against KL(policy‖reference), as in the DPO
 * paper's frontier figure; held-out preference accuracy against β) and {@code report.html}, which
 * holds the table, the plots and the exact configuration.
 *
 * <p>XChart and VectorGraphics2D are optional dependencies of the align4j artifact (the command
 * line's jar bundles them). Without them on the class path the report is written without plots, and
 * {@code report.html} and {@code results.md} say which two dependencies to add to get them.
 */
final class Report {
    private Report() {}

    /** Human names of metrics, for tables and axes. */
    static final Map<String, String> LABELS = Map.of(
            "win_rate", "win rate against the SFT model",
            "pref_accuracy", "held-out preference accuracy",
            "mean_reward", "mean judge reward",
            "kl", "KL(policy || reference)",
            "mt_bench", "MT-Bench score");

    /**
     * Writes every report file into dir and returns their paths.
     *
     * @param title the report's title
     * @param configText the exact configuration (YAML or the demo's settings), shown verbatim
     * @param headline a closing summary (may be null)
     */
    public static List<Path> write(Sweep.Result result, String title, String configText, String headline, Path dir) {
        return write(result, title, configText, headline, dir, plotsAvailable());
    }

    /** What the report says instead of plots when XChart is not on the class path. */
    static final String NO_PLOTS = "Plots were not drawn: they need org.knowm.xchart:xchart:4.0.3 and "
            + "de.erichseifert.vectorgraphics2d:VectorGraphics2D:0.13 on the class path (optional dependencies of "
            + "align4j; the command line's jar has them).";

    /** Whether XChart and VectorGraphics2D (optional dependencies) can be loaded. */
    static boolean plotsAvailable() {
        try {
            Class.forName("org.knowm.xchart.XYChart", false, Report.class.getClassLoader());
            Class.forName("de.erichseifert.vectorgraphics2d.VectorGraphics2D", false, Report.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    static List<Path> write(Sweep.Result result, String title, String configText, String headline, Path dir, boolean drawPlots) {
        List<Path> files = new ArrayList<>();
        try {
            Files.createDirectories(dir);
            files.add(writeText(dir.resolve("results.csv"), csv(result)));
            files.add(writeText(dir.resolve("results_summary.csv"), summaryCsv(result)));
            files.add(writeText(dir.resolve("results.md"), markdown(result, title, headline)
                    + (drawPlots ? "" : "\n" + NO_PLOTS + "\n")));
            List<String[]> plots = new ArrayList<>(); // {file stem, caption}
            if (drawPlots) {
                // Plots is the only class that refers to XChart: it is loaded only here.
                Plots.write(result, dir, plots, files);
            }
            files.add(writeText(dir.resolve("report.html"), html(result, title, configText, headline, plots, dir)));
        } catch (IOException e) {
            throw new Align4jException(dir + ": cannot write the report: " + e.getMessage(), e);
        }
        return files;
    }

    static String label(String metric) {
        return LABELS.getOrDefault(metric, metric);
    }

    static boolean has(Sweep.Result r, String metric) {
        return r.cells().stream().anyMatch(c -> Double.isFinite(c.metric(metric)));
    }

    // ---- tables ----------------------------------------------------------------------------------

    /** Grid fields other than the algorithm and β, in order of first appearance. */
    static List<String> extraFields(Sweep.Result r) {
        Set<String> s = new LinkedHashSet<>();
        for (Sweep.CellResult c : r.cells()) {
            for (String k : c.cell().values().keySet()) {
                if (!k.equals("loss_type") && !k.equals("beta") && !k.equals("loss_weights")) {
                    s.add(k);
                }
            }
        }
        return new ArrayList<>(s);
    }

    static List<String> metricNames(Sweep.Result r) {
        Set<String> s = new LinkedHashSet<>();
        r.cells().forEach(c -> s.addAll(c.metrics().keySet()));
        return new ArrayList<>(s);
    }

    /** One row per cell: algorithm, beta, other grid fields, metrics, seconds. */
    static String csv(Sweep.Result r) {
        List<String> extra = extraFields(r);
        List<String> metrics = metricNames(r);
        StringBuilder sb = new StringBuilder("algorithm,beta");
        extra.forEach(k -> sb.append(',').append(k));
        metrics.forEach(k -> sb.append(',').append(k));
        sb.append(",seconds,seed\n");
        for (Sweep.CellResult c : r.cells()) {
            sb.append(csvField(c.cell().algorithm())).append(',').append(num(c.cell().beta()));
            for (String k : extra) {
                Object v = c.cell().values().get(k);
                sb.append(',').append(v == null ? "" : csvField(Sweep.format(v)));
            }
            for (String k : metrics) {
                sb.append(',').append(num(c.metric(k)));
            }
            sb.append(',').append(String.format(Locale.ROOT, "%.1f", c.seconds())).append(',').append(c.seed()).append('\n');
        }
        return sb.toString();
    }

    /** One row per cell over its seeds: seeds, then mean, sample sd, min and max of every metric. */
    static String summaryCsv(Sweep.Result r) {
        List<String> extra = extraFields(r);
        List<String> metrics = metricNames(r);
        StringBuilder sb = new StringBuilder("algorithm,beta");
        extra.forEach(k -> sb.append(',').append(k));
        sb.append(",seeds");
        metrics.forEach(k -> sb.append(',').append(k).append("_mean,").append(k).append("_sd,").append(k).append("_min,")
                .append(k).append("_max"));
        sb.append('\n');
        for (CellSummary c : r.summaries()) {
            sb.append(csvField(c.cell().algorithm())).append(',').append(num(c.cell().beta()));
            for (String k : extra) {
                Object v = c.cell().values().get(k);
                sb.append(',').append(v == null ? "" : csvField(Sweep.format(v)));
            }
            sb.append(',').append(c.runs().size());
            for (String k : metrics) {
                sb.append(',').append(num(c.mean(k))).append(',').append(num(c.std(k))).append(',').append(num(c.min(k)))
                        .append(',').append(num(c.max(k)));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private static String csvField(String s) {
        return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    private static String num(double v) {
        return Double.isFinite(v) ? Sweep.format(v) : "";
    }

    /** The value shown in a table cell: the primary metric, with its interval for win rates. */
    static String shown(Sweep.CellResult c, String metric) {
        double v = c.metric(metric);
        if (!Double.isFinite(v)) {
            return "–";
        }
        if (metric.equals("win_rate") && Double.isFinite(c.metric("win_rate_low"))) {
            return String.format(Locale.ROOT, "%.1f%% [%.1f, %.1f]", 100 * v, 100 * c.metric("win_rate_low"),
                    100 * c.metric("win_rate_high"));
        }
        if (metric.equals("pref_accuracy")) {
            return String.format(Locale.ROOT, "%.1f%%", 100 * v);
        }
        return String.format(Locale.ROOT, "%.4g", v);
    }

    /**
     * A cell over its seeds: with one seed as {@link #shown(Sweep.CellResult, String)}; with more,
     * the mean ± sample sd and [min, max] over the seeds (win rates and accuracies in %).
     */
    static String shown(CellSummary c, String metric) {
        if (c.runs().size() == 1) {
            return shown(c.runs().get(0), metric);
        }
        double m = c.mean(metric);
        if (!Double.isFinite(m)) {
            return "–";
        }
        boolean pct = metric.equals("win_rate") || metric.equals("pref_accuracy");
        double f = pct ? 100 : 1;
        String unit = pct ? "%%" : "";
        String fmt = pct ? "%.1f" : "%.3g";
        return String.format(Locale.ROOT, fmt + unit + " ± " + fmt + " [" + fmt + ", " + fmt + "]", f * m, f * c.std(metric),
                f * c.min(metric), f * c.max(metric));
    }

    /**
     * Each row's best β by the mean over seeds, and whether that is a finding: a β is called best
     * only when it is higher than every other β of its row on every seed; otherwise the β values it
     * cannot be told apart from are named.
     */
    static String bestBetas(Sweep.Result r) {
        String primary = r.primaryMetric();
        int seeds = r.seeds();
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "Best β per algorithm by %s (%s):%n", label(primary),
                seeds == 1 ? "one seed" : "mean ± sd over " + seeds + " seeds"));
        Map<String, List<CellSummary>> rows = new LinkedHashMap<>();
        r.summaries().forEach(c -> rows.computeIfAbsent(c.cell().row(), k -> new ArrayList<>()).add(c));
        r.bestPerRow().forEach((row, best) -> {
            sb.append(String.format(Locale.ROOT, "  %-12s β = %-5s %s", row, Sweep.format(best.cell().beta()), shown(best, primary)));
            List<String> ties = new ArrayList<>();
            for (CellSummary c : rows.get(row)) {
                if (!c.equals(best) && !best.beatsOnEverySeed(c, primary)) {
                    ties.add(Sweep.format(c.cell().beta()));
                }
            }
            if (rows.get(row).size() == 1) {
                sb.append('\n');
            } else if (seeds < 2) {
                sb.append("  (one seed: not tested against the other β values)\n");
            } else if (ties.isEmpty()) {
                sb.append("  higher than every other β on all ").append(seeds).append(" seeds\n");
            } else {
                sb.append("  not distinguishable from β = ").append(String.join(", ", ties))
                        .append(" (the seeds disagree)\n");
            }
        });
        if (seeds < 2) {
            sb.append("One seed per cell: a single training trajectory, not a property of the algorithm; run with "
                    + "--seeds 3 (or seeds: 3) before drawing conclusions.");
        } else {
            sb.append("A β is called best only when it beats every other β of its row on every seed (paired by seed).");
        }
        return sb.toString().stripTrailing();
    }

    /** β values of the grid, ascending. */
    static List<Double> betas(Sweep.Result r) {
        Set<Double> s = new TreeSet<>();
        r.cells().forEach(c -> s.add(c.cell().beta()));
        return new ArrayList<>(s);
    }

    /** rows → (β → cell over its seeds). */
    static Map<String, Map<Double, CellSummary>> byRow(Sweep.Result r) {
        Map<String, Map<Double, CellSummary>> m = new LinkedHashMap<>();
        for (CellSummary c : r.summaries()) {
            m.computeIfAbsent(c.cell().row(), k -> new LinkedHashMap<>()).put(c.cell().beta(), c);
        }
        return m;
    }

    /** The β-scan table in Markdown: rows = algorithm, columns = β, the best cell of each row in bold with a ★. */
    static String table(Sweep.Result r) {
        String primary = r.primaryMetric();
        List<Double> betas = betas(r);
        Map<String, CellSummary> best = r.bestPerRow();
        StringBuilder sb = new StringBuilder("| algorithm |");
        betas.forEach(b -> sb.append(" β = ").append(Sweep.format(b)).append(" |"));
        sb.append("\n|---|");
        betas.forEach(b -> sb.append("---|"));
        sb.append('\n');
        byRow(r).forEach((row, cells) -> {
            sb.append("| ").append(row).append(" |");
            for (double b : betas) {
                CellSummary c = cells.get(b);
                String v = c == null ? "" : shown(c, primary);
                if (c != null && c.equals(best.get(row)) && Double.isFinite(c.mean(primary))) {
                    v = "**" + v + "** ★";
                }
                sb.append(' ').append(v).append(" |");
            }
            sb.append('\n');
        });
        return sb.toString();
    }

    /** Every metric of every cell, one row per cell. */
    static String detailTable(Sweep.Result r) {
        List<String> metrics = metricNames(r);
        StringBuilder sb = new StringBuilder("| cell | seed |");
        metrics.forEach(m -> sb.append(' ').append(m).append(" |"));
        sb.append(" seconds |\n|---|---|");
        metrics.forEach(m -> sb.append("---|"));
        sb.append("---|\n");
        for (Sweep.CellResult c : r.cells()) {
            sb.append("| ").append(c.cell().id()).append(" | ").append(c.seed()).append(" |");
            for (String m : metrics) {
                double v = c.metric(m);
                sb.append(' ').append(Double.isFinite(v) ? String.format(Locale.ROOT, "%.4g", v) : "–").append(" |");
            }
            sb.append(String.format(Locale.ROOT, " %.1f%s |", c.seconds(), c.reused() ? " (reused)" : "")).append('\n');
        }
        return sb.toString();
    }

    static String markdown(Sweep.Result r, String title, String headline) {
        StringBuilder sb = new StringBuilder();
        sb.append("# ").append(title).append("\n\n");
        sb.append(label(r.primaryMetric())).append(" per algorithm (rows) and β (columns); ★ marks each row's best β")
                .append(r.seeds() > 1 ? " by the mean" : "").append('.');
        sb.append(intervalNote(r));
        sb.append("\n\n").append(table(r)).append('\n');
        if (headline != null && !headline.isBlank()) {
            sb.append(headline.strip()).append("\n\n");
        }
        sb.append("## All metrics\n\n").append(detailTable(r));
        return sb.toString();
    }

    /** What the numbers in a table cell are. */
    static String intervalNote(Sweep.Result r) {
        if (r.seeds() > 1) {
            return " Cells: mean ± sample standard deviation over " + r.seeds() + " seeds, [min, max] of the seeds.";
        }
        return r.primaryMetric().equals("win_rate") ? " Brackets: 95% Wilson interval (one seed)." : " One seed.";
    }

    // ---- HTML ------------------------------------------------------------------------------------

    static String html(Sweep.Result r, String title, String configText, String headline, List<String[]> plots, Path dir)
            throws IOException {
        StringBuilder sb = new StringBuilder();
        sb.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").append(esc(title))
                .append("</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
                        + "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
                        + "text-align:right}td:first-child,th:first-child{text-align:left}.best{font-weight:bold;"
                        + "background:#e8f4e8}pre{background:#f6f6f6;padding:1em;overflow:auto}figure{margin:1em 0}"
                        + "figcaption{color:#555}</style></head><body>\n");
        sb.append("<h1>").append(esc(title)).append("</h1>\n");
        if (headline != null && !headline.isBlank()) {
            sb.append("<h2>Result</h2>\n<pre>").append(esc(headline.strip())).append("</pre>\n");
        }
        String primary = r.primaryMetric();
        sb.append("<h2>").append(esc(label(primary))).append(" by algorithm and β</h2>\n<p>The best β of each row is "
                + "highlighted (★).").append(esc(intervalNote(r)))
                .append("</p>\n<table><tr><th>algorithm</th>");
        List<Double> betas = betas(r);
        betas.forEach(b -> sb.append("<th>β = ").append(Sweep.format(b)).append("</th>"));
        sb.append("</tr>\n");
        Map<String, CellSummary> best = r.bestPerRow();
        byRow(r).forEach((row, cells) -> {
            sb.append("<tr><td>").append(esc(row)).append("</td>");
            for (double b : betas) {
                CellSummary c = cells.get(b);
                boolean isBest = c != null && c.equals(best.get(row)) && Double.isFinite(c.mean(primary));
                sb.append(isBest ? "<td class=\"best\">" : "<td>").append(c == null ? "" : esc(shown(c, primary)))
                        .append(isBest ? " ★" : "").append("</td>");
            }
            sb.append("</tr>\n");
        });
        sb.append("</table>\n<h2>Plots</h2>\n");
        if (plots.isEmpty()) {
            sb.append("<p>").append(esc(NO_PLOTS)).append("</p>\n");
        }
        for (String[] p : plots) {
            sb.append("<figure>").append(inlineSvg(dir.resolve(p[0] + ".svg"))).append("<figcaption>")
                    .append(esc(p[1])).append(" (<a href=\"").append(p[0]).append(".png\">PNG</a>, <a href=\"")
                    .append(p[0]).append(".svg\">SVG</a>)</figcaption></figure>\n");
        }
        sb.append("<h2>All metrics</h2>\n<table><tr><th>cell</th><th>seed</th>");
        List<String> metrics = metricNames(r);
        metrics.forEach(m -> sb.append("<th>").append(esc(m)).append("</th>"));
        sb.append("<th>seconds</th></tr>\n");
        for (Sweep.CellResult c : r.cells()) {
            sb.append("<tr><td>").append(esc(c.cell().id())).append("</td><td>").append(c.seed()).append("</td>");
            for (String m : metrics) {
                double v = c.metric(m);
                sb.append("<td>").append(Double.isFinite(v) ? String.format(Locale.ROOT, "%.4g", v) : "–").append("</td>");
            }
            sb.append(String.format(Locale.ROOT, "<td>%.1f%s</td></tr>%n", c.seconds(), c.reused() ? " (reused)" : ""));
        }
        sb.append("</table>\n<p>Files: <a href=\"results.csv\">results.csv</a> (one row per cell and seed), "
                + "<a href=\"results_summary.csv\">results_summary.csv</a> (mean, sd, min, max per cell), "
                + "<a href=\"results.md\">results.md</a>; "
                + "each cell's metrics.jsonl, result.json and final checkpoint are under cells/.</p>\n");
        sb.append("<h2>Configuration</h2>\n<pre>").append(esc(configText == null ? "" : configText)).append("</pre>\n");
        sb.append("</body></html>\n");
        return sb.toString();
    }

    private static String inlineSvg(Path svg) throws IOException {
        String s = Files.readString(svg, StandardCharsets.UTF_8);
        int i = s.indexOf("<svg");
        return i < 0 ? "" : s.substring(i);
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    private static Path writeText(Path file, String text) throws IOException {
        Path tmp = Files.createTempFile(file.getParent(), "." + file.getFileName(), ".tmp");
        try {
            Files.write(tmp, io.github.align4j.internal.Utf8Out.bytes(file, text));
            try { // temporary files are private; a report is for reading
                Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            } catch (UnsupportedOperationException e) {
                // not a POSIX file system
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
        return file;
    }
}
