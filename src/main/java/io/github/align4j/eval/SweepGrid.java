package io.github.align4j.eval;

import io.github.align4j.Align4jException;
import io.github.align4j.loss.Losses;
import io.github.align4j.loss.PreferenceLoss;
import io.github.align4j.internal.Offline;
import io.github.align4j.train.TrainConfig;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A sweep's grid: expanding trainer field → values into checked cells, naming a cell (its folder and its
 * table row), and each cell's loss with only the options that loss reads. {@link Sweep} delegates here.
 */
final class SweepGrid {
    static {
        Offline.ensure(); // as Sweep: SweepConfig reaches the grid (and the losses) through here
    }

    /** Most cells in a grid: each is a training run, and the plan lists them all. */
    static final int MAX_CELLS = 10_000;
    /** Longest cell name: the id names a folder, the row heads a table row, a CSV row and a plot's series. */
    static final int MAX_NAME = 200;

    private SweepGrid() {}

    /** Expands a grid (field → values) into cells, checking every value against its trainer field. */
    static List<Sweep.Cell> expand(Map<String, ? extends List<?>> grid, TrainConfig base) {
        List<Map<String, Object>> acc = new ArrayList<>();
        acc.add(new LinkedHashMap<>());
        if (grid != null) {
            long n = 1; // counted before the cells are built: a grid of 20 fields × 10 values is 10^20 cells
            for (List<?> vs : grid.values()) {
                n = Math.min((long) MAX_CELLS + 1, n * Math.max(1, vs == null ? 1 : vs.size()));
            }
            if (n > MAX_CELLS) {
                throw new Align4jException("grid: more than " + String.format(Locale.ROOT, "%,d", MAX_CELLS) + " cells ("
                        + String.join(" × ", grid.entrySet().stream().map(e -> e.getKey() + " " + (e.getValue() == null ? 0
                                : e.getValue().size())).toList()) + "); each cell is a training run: scan fewer values");
            }
            for (Map.Entry<String, ? extends List<?>> e : grid.entrySet()) {
                if (e.getValue() == null || e.getValue().isEmpty()) {
                    throw new Align4jException("grid: '" + e.getKey() + "' has no values; give a list, e.g. "
                            + e.getKey() + ": [" + base.get(checkKey(e.getKey())) + "]");
                }
                List<Map<String, Object>> next = new ArrayList<>();
                for (Map<String, Object> partial : acc) {
                    for (Object v : e.getValue()) {
                        TrainConfig checked = base.with(e.getKey(), v, "grid");
                        Map<String, Object> m = new LinkedHashMap<>(partial);
                        m.put(e.getKey(), checked.get(e.getKey()));
                        next.add(m);
                    }
                }
                acc = next;
            }
        }
        List<Sweep.Cell> out = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        for (Map<String, Object> m : acc) {
            Sweep.Cell c = new Sweep.Cell(m);
            checkName(c);
            if (!ids.add(c.id())) {
                throw new Align4jException("grid: two cells are both '" + c.id() + "'; remove the repeated value");
            }
            out.add(c);
        }
        return out;
    }

    /** Refuses a cell whose name is too long for a folder or a table, or holds control characters. */
    private static void checkName(Sweep.Cell c) {
        String id = c.id();
        String row = c.row();
        if (id.length() > MAX_NAME || row.length() > MAX_NAME) {
            throw new Align4jException(String.format(Locale.ROOT, "grid: a cell's name has %,d characters (its values "
                    + "name its folder and its row in the tables, at most %d); scan shorter values, e.g. paths in a "
                    + "shorter folder", Math.max(id.length(), row.length()), MAX_NAME));
        }
        if (row.indexOf('\n') >= 0 || row.indexOf('\t') >= 0 || !io.github.align4j.internal.Texts.printable(row).equals(row)) {
            throw new Align4jException("grid: a value of cell " + id + " holds control characters; remove them");
        }
    }

    private static String checkKey(String key) {
        if (!TrainConfig.keys().containsKey(key)) {
            throw new Align4jException("grid: unknown trainer field '" + key + "'. Known fields: "
                    + String.join(", ", TrainConfig.keys().keySet()));
        }
        return key;
    }

    /** The row of the results table: the algorithm plus every grid field other than β. */
    static String row(Sweep.Cell cell) {
        StringBuilder sb = new StringBuilder(cell.algorithm());
        cell.values().forEach((k, v) -> {
            if (!k.equals("beta") && !k.equals("loss_type") && !k.equals("loss_weights")) {
                sb.append(' ').append(k).append('=').append(format(v));
            }
        });
        return sb.toString();
    }

    /** A folder name: {@code dpo-beta0.1}, with other fields appended as {@code -key=value}. */
    static String id(Sweep.Cell cell) {
        Map<String, Object> values = cell.values();
        StringBuilder sb = new StringBuilder(cell.algorithm().replaceAll("[^A-Za-z0-9_.=]+", "_"));
        if (values.containsKey("beta")) {
            sb.append("-beta").append(format(values.get("beta")));
        }
        values.forEach((k, v) -> {
            if (!k.equals("beta") && !k.equals("loss_type") && !k.equals("loss_weights")) {
                sb.append('-').append(k).append('=').append(format(v).replaceAll("[^A-Za-z0-9_.+-]+", "_"));
            }
        });
        return sb.toString();
    }

    /** A grid value as it is shown and named: whole doubles without ".0", others in at most 6 significant digits. */
    static String format(Object v) {
        if (v instanceof Double d) {
            if (d == Math.rint(d) && Math.abs(d) < 1e6) {
                return String.valueOf(d.longValue());
            }
            String s = String.format(Locale.ROOT, "%.6g", d).replaceAll("(\\.\\d*?)0+(e|$)", "$1$2").replace(".e", "e");
            return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
        }
        return String.valueOf(v);
    }

    /** The loss of one cell's settings, built from only the options it reads. */
    static PreferenceLoss loss(TrainConfig c) {
        return forItsLoss(c).loss();
    }

    /** c without the loss options none of its losses reads. */
    static TrainConfig forItsLoss(TrainConfig c) {
        List<String> specs = c.lossSpec().weights().isEmpty() ? List.of(c.lossSpec().type()) : List.copyOf(c.lossSpec().weights().keySet());
        TrainConfig defaults = TrainConfig.defaults();
        for (String k : c.lossOptions().keySet()) {
            if (specs.stream().noneMatch(spec -> Losses.reads(spec, k))) {
                c = c.with(k, defaults.get(k), "sweep");
            }
        }
        Map<String, Object> kwargs = new LinkedHashMap<>();
        c.lossSpec().kwargs().forEach((k, v) -> {
            if (specs.stream().anyMatch(spec -> Losses.reads(spec, k))) {
                kwargs.put(k, v);
            }
        });
        return kwargs.size() == c.lossSpec().kwargs().size() ? c : c.with("loss_kwargs", kwargs, "sweep");
    }
}
