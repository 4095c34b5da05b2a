package io.github.align4j.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The judge's API key kept out of text that leaves the client (messages, logs, caches, judgment
 * files), and where a key may go over plain http.
 */
final class Secrets {
    /** What a removed key (or a piece of it) becomes. */
    static final String MASK = "***";
    /** A run of this many characters of the key, or more, found anywhere in a text is removed. */
    static final int MIN_PIECE = 8;

    private static final Pattern IPV4 = Pattern.compile("(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})"
            + "\\.(0|[1-9][0-9]{0,2})");

    private Secrets() {}

    /**
     * {@code text} without {@code key}: every occurrence of the key, and every run of at least
     * {@value #MIN_PIECE} consecutive characters of it (a prefix a server echoed, a piece left by a
     * cut), becomes {@value #MASK}. Null text or key gives the text unchanged. Call it before text is
     * cut, logged, cached or written.
     */
    static String redact(String text, String key) {
        if (text == null || key == null || key.isEmpty() || text.isEmpty()) {
            return text;
        }
        int piece = Math.min(MIN_PIECE, key.length());
        // the key's pieces by a rolling hash (a judge's error body may be megabytes): most positions
        // are ruled out by one binary search, and a hit is checked character by character
        long top = 1;
        for (int k = 1; k < piece; k++) {
            top *= HASH_BASE;
        }
        Map<Long, List<Integer>> starts = new HashMap<>();
        long h = 0;
        for (int j = 0; j < key.length(); j++) {
            h = j < piece ? h * HASH_BASE + key.charAt(j) : (h - key.charAt(j - piece) * top) * HASH_BASE + key.charAt(j);
            if (j >= piece - 1) {
                starts.computeIfAbsent(h, x -> new ArrayList<>(1)).add(j - piece + 1);
            }
        }
        long[] hashes = starts.keySet().stream().mapToLong(Long::longValue).sorted().toArray();
        long[] filter = new long[64]; // 4096 bits: a position whose hash's bit is clear is no piece
        for (long x : hashes) {
            int b = bit(x);
            filter[b >>> 6] |= 1L << b;
        }
        StringBuilder out = null;
        int copied = 0;
        h = 0;
        for (int k = 0; k < piece - 1 && k < text.length(); k++) {
            h = h * HASH_BASE + text.charAt(k);
        }
        int i = 0; // the window's start; h holds text[i, i + piece - 1) before each step
        while (i + piece <= text.length()) {
            long w = h * HASH_BASE + text.charAt(i + piece - 1);
            int longest = 0;
            int b = bit(w);
            if ((filter[b >>> 6] & (1L << b)) != 0 && Arrays.binarySearch(hashes, w) >= 0) {
                for (int j : starts.get(w)) {
                    if (!text.regionMatches(i, key, j, piece)) {
                        continue;
                    }
                    int n = piece;
                    while (i + n < text.length() && j + n < key.length() && text.charAt(i + n) == key.charAt(j + n)) {
                        n++;
                    }
                    longest = Math.max(longest, n);
                }
            }
            if (longest == 0) {
                h = w - text.charAt(i) * top;
                i++;
                continue;
            }
            if (out == null) {
                out = new StringBuilder(text.length());
            }
            out.append(text, copied, i).append(MASK);
            i += longest;
            copied = i;
            h = 0;
            for (int k = i; k < i + piece - 1 && k < text.length(); k++) {
                h = h * HASH_BASE + text.charAt(k);
            }
        }
        return out == null ? text : out.append(text, copied, text.length()).toString();
    }

    private static final long HASH_BASE = 1_000_003;

    private static int bit(long hash) {
        return (int) ((hash * 0x9E3779B97F4A7C15L) >>> 52);
    }

    /**
     * Whether a URL's host is this machine, parsed and never prefix-matched: exactly
     * {@code localhost}, an IPv4 literal in 127.0.0.0/8, or the IPv6 literal {@code ::1} (with or
     * without brackets). Names are never looked up, so {@code 127.attacker.invalid} and
     * {@code 0.0.0.0} are not loopback.
     */
    static boolean isLoopback(String host) {
        if (host == null) {
            return false;
        }
        String h = host.strip();
        if (h.toLowerCase(Locale.ROOT).equals("localhost")) {
            return true;
        }
        var m = IPV4.matcher(h);
        if (m.matches()) {
            for (int g = 1; g <= 4; g++) {
                if (Integer.parseInt(m.group(g)) > 255) {
                    return false;
                }
            }
            return m.group(1).equals("127");
        }
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        if (!h.contains(":") || !h.matches("[0-9A-Fa-f:.]+")) {
            return false; // not an IPv6 literal (zone ids and names included): never looked up
        }
        try {
            // a literal of hex digits, colons and dots: parsed, no name lookup
            return java.net.InetAddress.getByName("[" + h + "]").isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }
}
