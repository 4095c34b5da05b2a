package io.github.align4j.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * One grid cell over its seeds: the per-seed results and their mean, sample standard deviation,
 * minimum and maximum per metric. Two cells are told apart only when every seed they share
 * agrees ({@link #beatsOnEverySeed}); with one seed nothing is told apart.
 *
 * @param cell the grid point
 * @param runs one result per seed, in seed order
 */
public record CellSummary(Sweep.Cell cell, List<Sweep.CellResult> runs) {
    public CellSummary {
        runs = List.copyOf(runs);
    }

    /** The metric's finite values, one per seed that measured it. */
    public double[] values(String metric) {
        return runs.stream().mapToDouble(r -> r.metric(metric)).filter(Double::isFinite).toArray();
    }

    /** Seeds that measured the metric. */
    public int n(String metric) {
        return values(metric).length;
    }

    /** Mean over the seeds; NaN when no seed measured it. */
    public double mean(String metric) {
        double[] v = values(metric);
        if (v.length == 0) {
            return Double.NaN;
        }
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    /** Sample standard deviation (n − 1); NaN with fewer than two seeds. */
    public double std(String metric) {
        double[] v = values(metric);
        if (v.length < 2) {
            return Double.NaN;
        }
        double m = mean(metric);
        double s = 0;
        for (double x : v) {
            s += (x - m) * (x - m);
        }
        return Math.sqrt(s / (v.length - 1));
    }

    public double min(String metric) {
        double[] v = values(metric);
        double m = Double.NaN;
        for (double x : v) {
            m = Double.isNaN(m) ? x : Math.min(m, x);
        }
        return m;
    }

    public double max(String metric) {
        double[] v = values(metric);
        double m = Double.NaN;
        for (double x : v) {
            m = Double.isNaN(m) ? x : Math.max(m, x);
        }
        return m;
    }

    /** Whether every run came from the output folder of an earlier run. */
    public boolean reused() {
        return runs.stream().allMatch(Sweep.CellResult::reused);
    }

    /** Seconds of all seeds together. */
    public double seconds() {
        return runs.stream().mapToDouble(Sweep.CellResult::seconds).sum();
    }

    /**
     * Whether this cell is higher than {@code other} on every seed both measured (paired by seed),
     * with at least two such seeds: the only kind of difference the reports call.
     */
    public boolean beatsOnEverySeed(CellSummary other, String metric) {
        int shared = 0;
        for (Sweep.CellResult a : runs) {
            for (Sweep.CellResult b : other.runs) {
                if (a.seed() == b.seed()) {
                    double x = a.metric(metric);
                    double y = b.metric(metric);
                    if (!Double.isFinite(x) || !Double.isFinite(y) || x <= y) {
                        return false;
                    }
                    shared++;
                }
            }
        }
        return shared >= 2;
    }

    /** Whether every seed's value is above {@code threshold} (at least two seeds). */
    public boolean aboveOnEverySeed(String metric, double threshold) {
        double[] v = values(metric);
        if (v.length < 2 || v.length < runs.size()) {
            return false;
        }
        for (double x : v) {
            if (x <= threshold) {
                return false;
            }
        }
        return true;
    }

    /** Groups per-seed results by cell, in order of first appearance. */
    static List<CellSummary> of(List<Sweep.CellResult> results) {
        java.util.Map<String, List<Sweep.CellResult>> m = new java.util.LinkedHashMap<>();
        java.util.Map<String, Sweep.Cell> cells = new java.util.HashMap<>();
        for (Sweep.CellResult r : results) {
            m.computeIfAbsent(r.cell().id(), k -> new ArrayList<>()).add(r);
            cells.putIfAbsent(r.cell().id(), r.cell());
        }
        List<CellSummary> out = new ArrayList<>();
        m.forEach((id, rs) -> out.add(new CellSummary(cells.get(id), rs)));
        return out;
    }
}
