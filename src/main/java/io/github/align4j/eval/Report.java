package io.github.align4j.eval;

import io.github.align4j.Align4jException;
import java.awt.BasicStroke;
import java.awt.Color;
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
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.VectorGraphicsEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The files of a sweep: {@code results.csv} (one row per cell: algorithm, β, the other grid
 * fields, every metric), {@code results.md} (rows = algorithm, columns = β, the best cell of each
 * row marked), plots as PNG and SVG drawn with XChart (the primary metric against β per algorithm,
 * as in the blog's scan figures; mean judge reward against KL(policy‖reference), as in the DPO
 * paper's frontier figure; held-out preference accuracy against β) and {@code report.html}, which
 * holds the table, the plots and the exact configuration.
 */
public final class Report {
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
        System.setProperty("java.awt.headless", "true");
        List<Path> files = new ArrayList<>();
        try {
            Files.createDirectories(dir);
            files.add(writeText(dir.resolve("results.csv"), csv(result)));
            files.add(writeText(dir.resolve("results_summary.csv"), summaryCsv(result)));
            files.add(writeText(dir.resolve("results.md"), markdown(result, title, headline)));
            List<String[]> plots = new ArrayList<>(); // {file stem, caption}
            String primary = result.primaryMetric();
            plot(metricVsBeta(result, primary), dir, "metric_vs_beta", files);
            plots.add(new String[] {"metric_vs_beta", label(primary) + " against β, one line per algorithm"
                    + (primary.equals("win_rate") ? " (50% = no better than the SFT model)" : "")});
            if (has(result, "kl") && has(result, "mean_reward")) {
                plot(frontier(result), dir, "reward_vs_kl", files);
                plots.add(new String[] {"reward_vs_kl", "mean judge reward against KL(policy‖reference) of each cell: "
                        + "the reward–KL frontier (the DPO paper's figure 2, left)"});
            }
            if (!primary.equals("pref_accuracy") && has(result, "pref_accuracy")) {
                plot(metricVsBeta(result, "pref_accuracy"), dir, "accuracy_vs_beta", files);
                plots.add(new String[] {"accuracy_vs_beta", "held-out preference accuracy (implicit reward ranks the "
                        + "judge's chosen completion first) against β"});
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

    private static boolean has(Sweep.Result r, String metric) {
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

    // ---- plots -----------------------------------------------------------------------------------

    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
        new Color(0xff7f0e), new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f)};

    private static XYChart chart(String title, String x, String y) {
        XYChart c = new XYChartBuilder().width(720).height(480).title(title).xAxisTitle(x).yAxisTitle(y).build();
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setPlotBackgroundColor(Color.WHITE);
        c.getStyler().setPlotGridLinesColor(new Color(0xdddddd));
        c.getStyler().setSeriesColors(PALETTE);
        c.getStyler().setMarkerSize(7);
        return c;
    }

    static XYChart metricVsBeta(Sweep.Result r, String metric) {
        boolean log = betas(r).stream().allMatch(b -> b > 0) && betas(r).size() > 1
                && betas(r).get(betas(r).size() - 1) / betas(r).get(0) >= 20;
        XYChart c = chart(Character.toUpperCase(label(metric).charAt(0)) + label(metric).substring(1) + ", by β",
                log ? "β (log scale)" : "β", label(metric));
        c.getStyler().setXAxisLogarithmic(log);
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        boolean bars = r.seeds() > 1;
        for (Map.Entry<String, Map<Double, CellSummary>> row : byRow(r).entrySet()) {
            List<Double> xs = new ArrayList<>();
            List<Double> ys = new ArrayList<>();
            List<Double> err = new ArrayList<>();
            for (Map.Entry<Double, CellSummary> e : new java.util.TreeMap<>(row.getValue()).entrySet()) {
                double v = e.getValue().mean(metric);
                if (Double.isFinite(v) && Double.isFinite(e.getKey())) {
                    xs.add(e.getKey());
                    ys.add(v);
                    double sd = e.getValue().std(metric);
                    err.add(Double.isFinite(sd) ? sd : 0.0);
                    lo = Math.min(lo, e.getKey());
                    hi = Math.max(hi, e.getKey());
                }
            }
            if (!xs.isEmpty()) {
                XYSeries s = bars ? c.addSeries(row.getKey(), xs, ys, err) : c.addSeries(row.getKey(), xs, ys);
                s.setMarker(SeriesMarkers.CIRCLE);
            }
        }
        if (bars) {
            c.setTitle(c.getTitle() + " (mean ± sd over " + r.seeds() + " seeds)");
            c.getStyler().setErrorBarsColorSeriesColor(true);
        }
        if (metric.equals("win_rate") && Double.isFinite(lo)) {
            XYSeries s = c.addSeries("SFT model (50%)", List.of(lo, hi), List.of(0.5, 0.5));
            s.setMarker(SeriesMarkers.NONE);
            s.setLineColor(Color.GRAY);
            s.setLineStyle(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
        }
        return c;
    }

    static XYChart frontier(Sweep.Result r) {
        XYChart c = chart("Judge reward against KL to the reference" + (r.seeds() > 1 ? " (means over seeds)" : ""), label("kl") + " per completion (nats)", label("mean_reward"));
        c.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        double sft = Double.NaN;
        for (Map.Entry<String, Map<Double, CellSummary>> row : byRow(r).entrySet()) {
            List<Double> xs = new ArrayList<>();
            List<Double> ys = new ArrayList<>();
            for (CellSummary cell : row.getValue().values()) {
                double x = cell.mean("kl");
                double y = cell.mean("mean_reward");
                if (Double.isFinite(x) && Double.isFinite(y)) {
                    xs.add(x);
                    ys.add(y);
                }
                if (Double.isFinite(cell.mean("sft_mean_reward"))) {
                    sft = cell.mean("sft_mean_reward");
                }
            }
            if (!xs.isEmpty()) {
                c.addSeries(row.getKey(), xs, ys).setMarker(SeriesMarkers.CIRCLE);
            }
        }
        if (Double.isFinite(sft)) {
            XYSeries s = c.addSeries("SFT model", List.of(0.0), List.of(sft));
            s.setMarker(SeriesMarkers.DIAMOND);
            s.setMarkerColor(Color.BLACK);
        }
        return c;
    }

    private static void plot(XYChart chart, Path dir, String stem, List<Path> files) throws IOException {
        Path png = dir.resolve(stem + ".png");
        Path svg = dir.resolve(stem + ".svg");
        BitmapEncoder.saveBitmap(chart, png.toString(), BitmapEncoder.BitmapFormat.PNG);
        VectorGraphicsEncoder.saveVectorGraphic(chart, svg.toString(), VectorGraphicsEncoder.VectorGraphicsFormat.SVG);
        files.add(png);
        files.add(svg);
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
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
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
