package io.github.align4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * Judge replies on disk: an append-only JSONL file, one line per reply, keyed by the SHA-256 of
 * (server, judge model, system prompt, user prompt); the last line of a key wins. Each line is written with one {@code write} and
 * forced to disk before the reply is used, so a run killed at any point loses at most the line
 * being written; a torn last line is ignored when the file is read again (and a newline is written
 * before the next record). The file holds no API key and no prompt text, only the key's hash.
 */
final class JudgeCache {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The largest cache file read (it is read whole): ~250,000 judgments of 2 KB. */
    static final long MAX_BYTES = 512L << 20;

    /** A cached reply. */
    record Entry(String content, long promptTokens, long completionTokens) {}

    private final Path file;
    private final Map<String, Entry> entries = new HashMap<>();
    private final int unreadable;
    private boolean needsNewline;

    private JudgeCache(Path file, int unreadable, boolean needsNewline) {
        this.file = file;
        this.unreadable = unreadable;
        this.needsNewline = needsNewline;
    }

    /** Opens (or starts) the cache file; its folder is created if needed. */
    static JudgeCache open(Path file) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            if (Files.isDirectory(file)) {
                throw new Align4jException("judge cache " + file + ": is a folder; give a file (JSONL) to create or reuse");
            }
            if (!Files.exists(file)) {
                return new JudgeCache(file, 0, false);
            }
            if (!Files.isRegularFile(file)) {
                throw new Align4jException("judge cache " + file + ": not a regular file; give a file (JSONL) to create or reuse");
            }
            long size = Files.size(file);
            if (size > MAX_BYTES) {
                throw new Align4jException(String.format(java.util.Locale.ROOT, "judge cache %s: %,d bytes, over the %,d "
                        + "a cache may hold; start a new cache file (--judge-cache)", file, size, MAX_BYTES));
            }
            byte[] bytes = Files.readAllBytes(file);
            String text = new String(bytes, StandardCharsets.UTF_8);
            int bad = 0;
            int records = 0;
            Map<String, Entry> m = new HashMap<>();
            String[] lines = text.split("\n", -1);
            int last = lines.length - 1;
            while (last >= 0 && lines[last].isBlank()) {
                last--;
            }
            for (int i = 0; i <= last; i++) {
                String line = lines[i];
                if (line.isBlank()) {
                    continue;
                }
                boolean ok = false;
                try {
                    JsonNode n = JSON.readTree(line);
                    if (n != null && n.path("key").isTextual() && n.path("content").isTextual()) {
                        m.put(n.get("key").asText(), new Entry(n.get("content").asText(),
                                ChatClient.tokens(n.path("prompt_tokens")), ChatClient.tokens(n.path("completion_tokens"))));
                        ok = true;
                        records++;
                    }
                } catch (IOException e) {
                    ok = false;
                }
                if (!ok) {
                    bad++;
                }
            }
            // A killed run tears a line (later runs append after it); a file none of whose lines is a cache record
            // is someone else's file, and judge replies would be appended to it.
            if (records == 0 && bad > 0) {
                throw new Align4jException("judge cache " + file + ": not an align4j judge cache (" + bad + " of its lines "
                        + "are not cache records), so nothing is appended to it; give a new file or an existing cache");
            }
            JudgeCache c = new JudgeCache(file, bad, bytes.length > 0 && bytes[bytes.length - 1] != '\n');
            c.entries.putAll(m);
            return c;
        } catch (IOException e) {
            throw new Align4jException("judge cache " + file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * SHA-256 over length-prefixed parts. A judge prompt's key is over the server (its endpoint),
     * the judge model and both messages ({@link ChatClient#cacheKey}); null parts count as "".
     */
    static String key(String... parts) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            for (String s0 : parts) {
                String s = s0 == null ? "" : s0;
                byte[] b = s.getBytes(StandardCharsets.UTF_8);
                d.update(ByteBuffer.allocate(8).putLong(b.length).array()); // length-prefixed: no ambiguity
                d.update(b);
            }
            return HexFormat.of().formatHex(d.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    synchronized Entry get(String key) {
        return entries.get(key);
    }

    synchronized int size() {
        return entries.size();
    }

    /** Lines that could not be read (torn by a killed run); they are ignored. */
    int unreadable() {
        return unreadable;
    }

    Path file() {
        return file;
    }

    /** Appends one reply and forces it to disk. */
    synchronized void put(String key, String model, Entry e) {
        ObjectNode n = JSON.createObjectNode();
        n.put("key", key);
        n.put("model", model);
        n.put("content", e.content());
        n.put("prompt_tokens", e.promptTokens());
        n.put("completion_tokens", e.completionTokens());
        n.put("tstamp", System.currentTimeMillis() / 1000.0);
        try {
            String line = (needsNewline ? "\n" : "") + JSON.writeValueAsString(n) + "\n";
            // a FileOutputStream, not a FileChannel: an interrupt (a cancelled sibling request) must not
            // close the file mid-record and lose a reply that was paid for
            try (FileOutputStream out = new FileOutputStream(file.toFile(), true)) {
                out.write(line.getBytes(StandardCharsets.UTF_8));
                out.getFD().sync();
            }
            needsNewline = false;
            entries.put(key, e);
        } catch (IOException ex) {
            throw new Align4jException("judge cache " + file + ": cannot write: " + ex.getMessage(), ex);
        }
    }
}
