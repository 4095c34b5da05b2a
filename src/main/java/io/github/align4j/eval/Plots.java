package io.github.align4j.eval;

import static io.github.align4j.eval.Report.betas;
import static io.github.align4j.eval.Report.byRow;
import static io.github.align4j.eval.Report.has;
import static io.github.align4j.eval.Report.label;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.VectorGraphicsEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The report's plots, drawn with XChart (PNG) and VectorGraphics2D (SVG). The only class that refers
 * to them, so that {@link Report} works without these optional dependencies: it calls
 * {@link #write} only after checking that they can be loaded.
 */
final class Plots {
    private Plots() {}

    /** Draws every plot that the result's metrics allow into dir; adds {file stem, caption} to plots and the files to files. */
    static void write(Sweep.Result result, Path dir, List<String[]> plots, List<Path> files) throws IOException {
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
    }

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

    /** MT-Bench's mean score (single) or win rate (pairwise) per category, as a bar chart. */
    static void mtBenchByCategory(MtBench.Result r, Path dir, List<Path> files) {
        List<String> xs = new ArrayList<>();
        List<Double> ys = new ArrayList<>();
        if (r.mode() == MtBench.Mode.SINGLE) {
            r.categoryScores().forEach((c, s) -> {
                if (Double.isFinite(s.mean())) {
                    xs.add(c);
                    ys.add(s.mean());
                }
            });
        } else {
            r.categoryWins().forEach((c, w) -> {
                if (Double.isFinite(w.adjustedWinRate())) {
                    xs.add(c);
                    ys.add(w.adjustedWinRate());
                }
            });
        }
        if (xs.isEmpty()) {
            return;
        }
        boolean single = r.mode() == MtBench.Mode.SINGLE;
        CategoryChart c = new CategoryChartBuilder().width(720).height(480)
                .title("MT-Bench by category: " + r.modelId() + (single ? "" : " vs " + r.baselineId()))
                .xAxisTitle("category").yAxisTitle(single ? "mean score (1–10), judge " + r.judgeModel()
                        : "win rate (ties ½), judge " + r.judgeModel()).build();
        c.getStyler().setLegendVisible(false);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setPlotBackgroundColor(Color.WHITE);
        c.getStyler().setPlotGridLinesColor(new Color(0xdddddd));
        c.getStyler().setSeriesColors(new Color[] {new Color(0x1f77b4)});
        c.getStyler().setYAxisMin(0.0);
        c.getStyler().setYAxisMax(single ? 10.0 : 1.0);
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        c.addSeries(r.modelId(), xs, ys);
        Path png = dir.resolve("scores_by_category.png");
        Path svg = dir.resolve("scores_by_category.svg");
        try {
            BitmapEncoder.saveBitmap(c, png.toString(), BitmapEncoder.BitmapFormat.PNG);
            VectorGraphicsEncoder.saveVectorGraphic(c, svg.toString(), VectorGraphicsEncoder.VectorGraphicsFormat.SVG);
        } catch (IOException e) {
            throw new io.github.align4j.Align4jException(dir + ": cannot write the plot: " + e.getMessage(), e);
        }
        files.add(png);
        files.add(svg);
    }
}
