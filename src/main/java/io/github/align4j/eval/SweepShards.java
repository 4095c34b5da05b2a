package io.github.align4j.eval;

import io.github.align4j.Align4jException;
import io.github.align4j.internal.Texts;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads {@code --shard} ({@code I/N} or {@code env}) into a {@link Sweep.Shard}; see {@link Sweep.Shard#parse}. */
final class SweepShards {
    private static final Pattern SPEC = Pattern.compile("(\\d{1,9})/(\\d{1,9})");

    private SweepShards() {}

    static Sweep.Shard parse(String spec, Integer count, Function<String, String> env) {
        String s = spec == null ? "" : spec.trim();
        if (s.equalsIgnoreCase("env")) {
            return fromEnvironment(count, env);
        }
        Matcher m = SPEC.matcher(s);
        if (!m.matches()) {
            throw new Align4jException("--shard '" + Texts.printable(s.length() > 40 ? s.substring(0, 40) + "…" : s)
                    + "': expected I/N (shard I of N, I from 0 to N−1, e.g. 0/8) or env");
        }
        Sweep.Shard sh = new Sweep.Shard(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
        if (count != null && count != sh.count()) {
            throw new Align4jException("--shard " + sh + " splits the sweep into " + sh.count() + " shards but --shards "
                    + "(or the file's shards:) says " + count + "; give one count");
        }
        return sh;
    }

    /** {@code --shard env}: the index from the first of {@link Sweep.Shard#INDEX_VARIABLES} that is set. */
    private static Sweep.Shard fromEnvironment(Integer count, Function<String, String> env) {
        String name = null;
        String value = null;
        for (String v : Sweep.Shard.INDEX_VARIABLES) {
            value = env.apply(v);
            if (value != null && !value.isBlank()) {
                name = v;
                break;
            }
        }
        if (name == null) {
            throw new Align4jException("--shard env: neither " + String.join(" nor ", Sweep.Shard.INDEX_VARIABLES)
                    + " is set; run it as a Kubernetes Indexed Job or a Slurm array task, or give --shard I/N");
        }
        if (count == null) {
            throw new Align4jException("--shard env: how many shards? Give --shards N or 'shards: N' in the sweep file "
                    + "(the array's size)");
        }
        int i;
        try {
            i = Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new Align4jException("--shard env: " + name + " is '" + Texts.printable(
                    value.length() > 40 ? value.substring(0, 40) + "…" : value) + "', not a whole number");
        }
        if (i < 0 || i >= count) {
            throw new Align4jException("--shard env: " + name + " is " + i + " but there are " + count + " shards (0 to "
                    + (count - 1) + "); make the array's indices 0.." + (count - 1) + " (Slurm: --array=0-"
                    + (count - 1) + ")");
        }
        return new Sweep.Shard(i, count);
    }
}
