package io.github.align4j.data;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.model.TextTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToIntFunction;

/**
 * What the model will see: a report on a {@link PreferenceData} for {@code align4j inspect}, as
 * text for people and as JSON for programs.
 */
public final class Inspect {
    private Inspect() {}

    /** {@link #text(PreferenceData, int, boolean)} without token boundary marks. */
    public static String text(PreferenceData d, int limit) {
        return text(d, limit, false);
    }

    /**
     * A human-readable report: the layout, the first {@code limit} examples as the model sees them
     * (special tokens visible, the EOS appended to each completion shown, truncation marked where it
     * cut), token counts, then statistics: rows read and kept, drops by reason, length percentiles
     * and, for unpaired data, the label balance.
     *
     * @param markTokens separate tokens with {@code |} (slower: decodes each token)
     */
    public static String text(PreferenceData d, int limit, boolean markTokens) {
        StringBuilder sb = new StringBuilder();
        sb.append("Dataset: ");
        List<Path> files = d.files();
        sb.append(files.size() == 1 ? files.get(0).toString() : files.size() + " files: " + files).append('\n');
        sb.append("Layout: ").append(d.layout()).append(d.paired() ? " (pairs)" : " (unpaired)");
        sb.append(d.chat() ? ", chat template from " + d.templateSource() : ", plain text (no chat template)").append('\n');
        sb.append("Fingerprint: ").append(d.fingerprint()).append(d.fromCache() ? " (from cache)" : "").append('\n');
        return d.tokenizer().apply(tok -> text(d, limit, markTokens, tok, sb));
    }

    private static String text(PreferenceData d, int limit, boolean markTokens, TextTokenizer tok, StringBuilder sb) {
        DataStats s = d.stats();
        int eos = tok.eosId();
        String eosText = tok.decode(new int[] {eos}, false);
        List<Example> ex = d.examples();
        int n = Math.min(Math.max(limit, 0), ex.size());
        for (int i = 0; i < n; i++) {
            Example e = ex.get(i);
            RenderedExample t = e.text();
            sb.append("\n=== example ").append(i).append(" (row ").append(t.row()).append(")");
            if (!d.paired()) {
                sb.append(t.desirable() ? " desirable" : " undesirable");
            }
            sb.append(" ===\n");
            part(sb, "PROMPT", t.prompt(), e.prompt(), t.promptCut(), true, null, tok, markTokens);
            part(sb, d.paired() ? "CHOSEN" : "COMPLETION", t.chosen(), e.chosen(), t.chosenCut(), false, eosText, tok,
                    markTokens);
            if (d.paired()) {
                part(sb, "REJECTED", t.rejected(), e.rejected(), t.rejectedCut(), false, eosText, tok, markTokens);
            }
            if (!t.metadata().isEmpty()) {
                sb.append("metadata: ").append(t.metadata()).append('\n');
            }
        }
        sb.append("\n=== statistics ===\n");
        sb.append("rows read: ").append(s.rowsRead()).append('\n');
        sb.append("kept:      ").append(s.kept()).append(d.paired() ? " pairs" : " examples").append('\n');
        sb.append("dropped:   ");
        if (s.dropped().isEmpty()) {
            sb.append("none");
        } else {
            List<String> parts = new ArrayList<>();
            new TreeMap<>(s.dropped()).forEach((k, v) -> parts.add(k + " " + v));
            sb.append(String.join(", ", parts));
        }
        sb.append('\n');
        sb.append("truncated: ").append(s.truncated()).append(" kept ").append(d.paired() ? "pairs" : "examples")
                .append(" (max_length ").append(limitText(d.options().maxLength())).append(", max_prompt_length ")
                .append(limitText(d.options().maxPromptLength())).append(")\n");
        for (String m : s.badRowMessages()) {
            sb.append("bad row: ").append(m).append('\n');
        }
        if (!d.paired()) {
            long[] l = labels(ex);
            sb.append("labels:    desirable ").append(l[0]).append(", undesirable ").append(l[1]).append('\n');
        }
        sb.append(String.format("%nlengths in tokens (as used)   %7s %7s %7s %7s%n", "p50", "p90", "p99", "max"));
        for (Map.Entry<String, int[]> c : lengths(d, false).entrySet()) {
            int[] v = c.getValue();
            sb.append(String.format("  %-27s %7d %7d %7d %7d%n", c.getKey(), v[0], v[1], v[2], v[3]));
        }
        sb.append(String.format("lengths before truncation%n"));
        for (Map.Entry<String, int[]> c : lengths(d, true).entrySet()) {
            int[] v = c.getValue();
            sb.append(String.format("  %-27s %7d %7d %7d %7d%n", c.getKey(), v[0], v[1], v[2], v[3]));
        }
        return sb.toString();
    }

    private static String limitText(int v) {
        return v <= 0 ? "none" : Integer.toString(v);
    }

    private static void part(StringBuilder sb, String name, String text, int[] ids, int cut, boolean prompt,
            String eosText, TextTokenizer tok, boolean mark) {
        sb.append("--- ").append(name).append(" (").append(ids.length).append(" tokens");
        if (!prompt) {
            sb.append(", EOS appended");
        }
        if (cut > 0) {
            sb.append("; ").append(cut).append(" cut from the ").append(prompt ? "left" : "right");
        }
        sb.append(") ---\n");
        if (cut > 0 && prompt) {
            sb.append("[... ").append(cut).append(" tokens cut ...]");
        }
        if (mark) {
            sb.append(String.join("|", pieces(tok, ids)));
        } else if (cut > 0) {
            sb.append(tok.decode(ids, false));
        } else {
            sb.append(text);
            if (eosText != null) {
                sb.append(eosText);
            }
        }
        if (cut > 0 && !prompt) {
            sb.append("[... ").append(cut).append(" tokens cut]");
        }
        sb.append('\n');
    }

    /** The text of each token, found by decoding growing prefixes (so spaces are kept). */
    static List<String> pieces(TextTokenizer tok, int[] ids) {
        List<String> out = new ArrayList<>(ids.length);
        String prev = "";
        int from = 0;
        for (int i = 0; i < ids.length; i++) {
            String cur = tok.decode(Arrays.copyOf(ids, i + 1), false);
            if (cur.startsWith(prev) && !cur.endsWith("\uFFFD")) {
                out.add(cur.substring(prev.length()));
                prev = cur;
                from = i + 1;
            } else if (i == ids.length - 1) {
                out.add(cur.startsWith(prev) ? cur.substring(prev.length()) : tok.decode(
                        Arrays.copyOfRange(ids, from, ids.length), false));
            }
        }
        return out;
    }

    private static long[] labels(List<Example> ex) {
        long[] l = new long[2];
        for (Example e : ex) {
            l[Boolean.TRUE.equals(e.text().desirable()) ? 0 : 1]++;
        }
        return l;
    }

    /** name -> {p50, p90, p99, max} of token counts, as used or before truncation. */
    private static Map<String, int[]> lengths(PreferenceData d, boolean before) {
        Map<String, int[]> out = new LinkedHashMap<>();
        List<Example> ex = d.examples();
        out.put("prompt", pct(ex, e -> e.prompt().length + (before ? e.text().promptCut() : 0)));
        if (d.paired()) {
            out.put("chosen", pct(ex, e -> e.chosen().length + (before ? e.text().chosenCut() : 0)));
            out.put("rejected", pct(ex, e -> e.rejected().length + (before ? e.text().rejectedCut() : 0)));
            out.put("prompt + longer completion", pct(ex, e -> e.prompt().length
                    + Math.max(e.chosen().length, e.rejected().length)
                    + (before ? e.text().promptCut() + Math.max(e.text().chosenCut(), e.text().rejectedCut()) : 0)));
        } else {
            out.put("completion", pct(ex, e -> e.chosen().length + (before ? e.text().chosenCut() : 0)));
            out.put("prompt + completion", pct(ex, e -> e.prompt().length + e.chosen().length
                    + (before ? e.text().promptCut() + e.text().chosenCut() : 0)));
        }
        return out;
    }

    /** Nearest-rank percentiles p50, p90, p99 and the maximum. */
    static int[] pct(List<Example> ex, ToIntFunction<Example> f) {
        int[] v = ex.stream().mapToInt(f).sorted().toArray();
        if (v.length == 0) {
            return new int[4];
        }
        return new int[] {rank(v, 50), rank(v, 90), rank(v, 99), v[v.length - 1]};
    }

    private static int rank(int[] sorted, int p) {
        int k = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, k - 1)];
    }

    /**
     * The report as JSON: {@code layout}, {@code paired}, {@code chat_template}, {@code files},
     * {@code fingerprint}, {@code rows} (rows read), {@code kept}, {@code dropped} (reason to
     * count), {@code bad_rows}, {@code truncated}, {@code labels} (unpaired: {"true": n, "false":
     * n}), {@code lengths} and {@code lengths_before_truncation} (part to {p50, p90, p99, max}),
     * and {@code examples}: the first {@code limit} examples with their exact rendered texts
     * ({@code prompt}, {@code chosen}, {@code rejected}, or {@code completion} and {@code label})
     * and the token ids the trainer uses ({@code prompt_ids}, {@code chosen_ids},
     * {@code rejected_ids} or {@code completion_ids}), plus {@code row}, {@code truncated} (tokens
     * cut per part) and {@code metadata}.
     */
    public static ObjectNode json(PreferenceData d, int limit) {
        ObjectNode o = Sources.JSON.createObjectNode();
        DataStats s = d.stats();
        o.put("layout", d.layout());
        o.put("paired", d.paired());
        o.put("chat_template", d.chat() ? d.templateSource() : null);
        ArrayNode files = o.putArray("files");
        d.files().forEach(f -> files.add(f.toString()));
        o.put("fingerprint", d.fingerprint());
        o.put("from_cache", d.fromCache());
        o.put("rows", s.rowsRead());
        o.put("kept", s.kept());
        ObjectNode dropped = o.putObject("dropped");
        new TreeMap<>(s.dropped()).forEach(dropped::put);
        o.put("bad_rows", s.badRows());
        ArrayNode msgs = o.putArray("bad_row_messages");
        s.badRowMessages().forEach(msgs::add);
        o.put("truncated", s.truncated());
        o.put("max_length", d.options().maxLength());
        o.put("max_prompt_length", d.options().maxPromptLength());
        if (!d.paired()) {
            long[] l = labels(d.examples());
            ObjectNode labels = o.putObject("labels");
            labels.put("true", l[0]);
            labels.put("false", l[1]);
        }
        for (boolean before : new boolean[] {false, true}) {
            ObjectNode lengths = o.putObject(before ? "lengths_before_truncation" : "lengths");
            lengths(d, before).forEach((k, v) -> {
                ObjectNode x = lengths.putObject(k);
                x.put("p50", v[0]);
                x.put("p90", v[1]);
                x.put("p99", v[2]);
                x.put("max", v[3]);
            });
        }
        ArrayNode examples = o.putArray("examples");
        List<Example> ex = d.examples();
        for (int i = 0; i < Math.min(Math.max(limit, 0), ex.size()); i++) {
            Example e = ex.get(i);
            RenderedExample t = e.text();
            ObjectNode x = examples.addObject();
            x.put("row", t.row());
            x.put("prompt", t.prompt());
            if (d.paired()) {
                x.put("chosen", t.chosen());
                x.put("rejected", t.rejected());
            } else {
                x.put("completion", t.chosen());
                x.put("label", t.desirable());
            }
            ids(x.putArray("prompt_ids"), e.prompt());
            if (d.paired()) {
                ids(x.putArray("chosen_ids"), e.chosen());
                ids(x.putArray("rejected_ids"), e.rejected());
            } else {
                ids(x.putArray("completion_ids"), e.chosen());
            }
            ObjectNode cut = x.putObject("truncated");
            cut.put("prompt", t.promptCut());
            cut.put(d.paired() ? "chosen" : "completion", t.chosenCut());
            if (d.paired()) {
                cut.put("rejected", t.rejectedCut());
            }
            ObjectNode meta = x.putObject("metadata");
            new TreeMap<>(t.metadata()).forEach(meta::put);
        }
        return o;
    }

    private static void ids(ArrayNode a, int[] ids) {
        for (int v : ids) {
            a.add(v);
        }
    }
}
