package io.github.align4j.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.FolderFiles;
import io.github.align4j.internal.Texts;
import io.github.align4j.model.SafeTensors.Checkpoint;
import io.github.align4j.model.SafeTensors.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Parses and validates safetensors headers and shard indexes for {@link SafeTensors#open}. */
final class SafeTensorsReader {
    static final String SINGLE = "model.safetensors";
    static final String INDEX = "model.safetensors.index.json";
    private static final long MAX_HEADER = 100_000_000L;
    private static final String REFETCH = " The file is damaged or not safetensors: download or export it again.";
    static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /** Where one tensor lies: {@code offset} is absolute in file number {@code file}. */
    record Slot(String name, DType dtype, long[] shape, int file, long offset, long length) {}

    private SafeTensorsReader() {}

    static Checkpoint open(Path path) {
        if (Files.isDirectory(path)) {
            Path single = FolderFiles.inside(path, path.resolve(SINGLE), "model folder");
            if (Files.isRegularFile(single)) {
                return openFiles(path, List.of(single), null, null);
            }
            Path index = FolderFiles.inside(path, path.resolve(INDEX), "model folder");
            if (Files.isRegularFile(index)) {
                return openIndex(path, index);
            }
            String hint = Files.exists(path.resolve("pytorch_model.bin"))
                    ? " It has PyTorch .bin weights only: convert them to safetensors "
                            + "(save_pretrained(dir, safe_serialization=True) in Python)."
                    : " Point to a Hugging Face model folder with safetensors weights.";
            throw new Align4jException(path + ": found neither " + SINGLE + " nor " + INDEX + " in this folder." + hint);
        }
        if (Files.isRegularFile(path)) {
            if (path.getFileName().toString().endsWith(".index.json")) {
                return openIndex(path.toAbsolutePath().getParent(), path);
            }
            return openFiles(path, List.of(path), null, null);
        }
        throw new Align4jException(path + ": no such file or folder. Expected a model folder with " + SINGLE
                + " (or " + INDEX + " and its shards), or a .safetensors file.");
    }

    private static Checkpoint openIndex(Path dir, Path index) {
        JsonNode root;
        try {
            root = JSON.readTree(index.toFile());
        } catch (JsonProcessingException e) {
            throw fail(index, Texts.jsonError("not valid JSON", e) + "." + REFETCH, e);
        } catch (IOException e) {
            throw fail(index, "cannot be read: " + e.getMessage(), e);
        }
        JsonNode map = root != null && root.isObject() ? root.get("weight_map") : null;
        if (map == null || !map.isObject() || map.isEmpty()) {
            throw fail(index, "has no \"weight_map\" object mapping tensor names to shard files." + REFETCH, null);
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        Map<String, Path> shards = new TreeMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            String tensor = e.getKey();
            JsonNode v = e.getValue();
            if (!v.isTextual() || v.asText().isBlank()) {
                throw fail(index, "weight_map entry '" + tensor + "' must name a shard file, not " + v + "." + REFETCH, null);
            }
            String shard = v.asText();
            if (!shards.containsKey(shard)) {
                Path p = FolderFiles.inside(dir, dir.resolve(shard), "model folder");
                if (!Files.isRegularFile(p)) {
                    throw fail(index, "lists shard '" + shard + "' (for tensor '" + tensor + "') but " + p
                            + " does not exist. Download all shards of the checkpoint.", null);
                }
                shards.put(shard, p);
            }
            weightMap.put(tensor, shard);
        }
        return openFiles(dir, new ArrayList<>(shards.values()), index, weightMap);
    }

    private static Checkpoint openFiles(Path source, List<Path> files, Path index, Map<String, String> weightMap) {
        List<FileChannel> channels = new ArrayList<>();
        try {
            Map<String, Slot> slots = new LinkedHashMap<>();
            Map<String, String> metadata = Map.of();
            for (int i = 0; i < files.size(); i++) {
                Path f = files.get(i);
                FileChannel ch;
                try {
                    ch = FileChannel.open(f, StandardOpenOption.READ);
                } catch (IOException e) {
                    throw fail(f, "cannot be opened: " + e.getMessage(), e);
                }
                channels.add(ch);
                Map<String, String> meta = new LinkedHashMap<>();
                for (Slot s : readHeader(ch, f, i, meta)) {
                    Slot prev = slots.putIfAbsent(s.name(), s);
                    if (prev != null) {
                        throw fail(f, "tensor '" + s.name() + "' is also in " + files.get(prev.file())
                                + "; a tensor must be in exactly one shard." + REFETCH, null);
                    }
                }
                if (i == 0) {
                    metadata = meta;
                }
            }
            if (weightMap != null) {
                for (Map.Entry<String, String> e : weightMap.entrySet()) {
                    Slot s = slots.get(e.getKey());
                    if (s == null || !files.get(s.file()).getFileName().toString().equals(e.getValue())) {
                        throw fail(index, "weight_map puts tensor '" + e.getKey() + "' in '" + e.getValue()
                                + "' but that shard has no such tensor." + REFETCH, null);
                    }
                }
            }
            return new Checkpoint(source, files, channels, slots, metadata);
        } catch (RuntimeException e) {
            closeQuietly(channels);
            throw e;
        }
    }

    /** Reads and checks one file's header; fills {@code metadata}; returns its tensors in header order. */
    static List<Slot> readHeader(FileChannel ch, Path file, int fileIndex, Map<String, String> metadata) {
        long size;
        JsonNode root;
        long n;
        try {
            size = ch.size();
            if (size < 8) {
                throw fail(file, "is " + size + " bytes, too short for the 8-byte header length." + REFETCH, null);
            }
            n = read(ch, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            if (n < 0 || n > MAX_HEADER) {
                throw fail(file, "header length " + Long.toUnsignedString(n) + " bytes is absurd (the limit is "
                        + MAX_HEADER + ")." + REFETCH, null);
            }
            if (n > size - 8) {
                throw fail(file, "header of " + n + " bytes does not fit in the file of " + size
                        + " bytes; the file is truncated." + REFETCH, null);
            }
            root = JSON.readTree(read(ch, 8, (int) n).array());
        } catch (JsonProcessingException e) {
            String twice = duplicateKey(e);
            throw fail(file, (twice != null ? "header names tensor '" + twice + "' twice"
                    : Texts.jsonError("header is not valid JSON", e)) + "." + REFETCH, e);
        } catch (IOException e) {
            throw fail(file, "cannot be read: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw fail(file, "header is not a JSON object." + REFETCH, null);
        }
        long dataStart = 8 + n;
        long dataLength = size - dataStart;
        List<Slot> slots = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            String name = e.getKey();
            JsonNode node = e.getValue();
            if (name.equals("__metadata__")) {
                if (!node.isObject()) {
                    throw fail(file, "\"__metadata__\" must be an object of strings, not " + node + "." + REFETCH, null);
                }
                node.properties().forEach(m -> metadata.put(m.getKey(),
                        m.getValue().isValueNode() ? m.getValue().asText() : m.getValue().toString()));
                continue;
            }
            String at = "tensor '" + name + "': ";
            if (!node.isObject()) {
                throw fail(file, at + "entry must be an object with dtype, shape and data_offsets, not " + node
                        + "." + REFETCH, null);
            }
            DType dtype = dtype(file, at, field(file, at, node, "dtype"));
            long[] shape = longs(file, at, field(file, at, node, "shape"), "shape", -1);
            long[] off = longs(file, at, field(file, at, node, "data_offsets"), "data_offsets", 2);
            for (long d : shape) {
                if (d < 0) {
                    throw fail(file, at + "shape " + Arrays.toString(shape) + " has a negative dimension." + REFETCH, null);
                }
            }
            if (off[0] < 0 || off[1] < off[0]) {
                throw fail(file, at + "data_offsets " + Arrays.toString(off)
                        + " must be [begin, end] with 0 <= begin <= end." + REFETCH, null);
            }
            long want;
            try {
                want = dtype.bytes;
                for (long d : shape) {
                    want = Math.multiplyExact(want, d);
                }
            } catch (ArithmeticException x) {
                throw fail(file, at + "shape " + Arrays.toString(shape) + " is impossibly large." + REFETCH, null);
            }
            if (off[1] - off[0] != want) {
                throw fail(file, at + "data_offsets " + Arrays.toString(off) + " span " + (off[1] - off[0])
                        + " bytes but shape " + Arrays.toString(shape) + " of " + dtype + " needs " + want
                        + "." + REFETCH, null);
            }
            if (off[1] > dataLength) {
                throw fail(file, at + "data ends at byte " + off[1] + " of the data section but the file holds only "
                        + dataLength + " bytes of data; the file is truncated." + REFETCH, null);
            }
            slots.add(new Slot(name, dtype, shape, fileIndex, dataStart + off[0], want));
        }
        checkNoOverlap(file, slots);
        return slots;
    }

    private static void checkNoOverlap(Path file, List<Slot> slots) {
        List<Slot> sorted = new ArrayList<>(slots);
        sorted.sort(Comparator.comparingLong(Slot::offset).thenComparingLong(Slot::length));
        Slot reach = null; // the tensor that ends furthest so far
        for (Slot s : sorted) {
            if (s.length() == 0) {
                continue;
            }
            if (reach != null && s.offset() < reach.offset() + reach.length()) {
                throw fail(file, "tensors '" + reach.name() + "' and '" + s.name()
                        + "' overlap in the data section." + REFETCH, null);
            }
            if (reach == null || s.offset() + s.length() > reach.offset() + reach.length()) {
                reach = s;
            }
        }
    }

    private static JsonNode field(Path file, String at, JsonNode entry, String key) {
        JsonNode v = entry.get(key);
        if (v == null) {
            throw fail(file, at + "missing \"" + key + "\"." + REFETCH, null);
        }
        return v;
    }

    private static DType dtype(Path file, String at, JsonNode v) {
        if (!v.isTextual()) {
            throw fail(file, at + "\"dtype\" must be a string such as \"F32\", not " + v + "." + REFETCH, null);
        }
        for (DType d : DType.values()) {
            if (d.name().equals(v.asText())) {
                return d;
            }
        }
        throw fail(file, at + "dtype \"" + v.asText() + "\" is not supported; align4j reads "
                + Arrays.toString(DType.values()) + ". Convert the checkpoint to F32, F16 or BF16.", null);
    }

    /** An array of integers that fit a long; {@code count} elements unless it is negative. */
    private static long[] longs(Path file, String at, JsonNode v, String key, int count) {
        boolean ok = v.isArray() && (count < 0 || v.size() == count);
        long[] out = new long[ok ? v.size() : 0];
        for (int i = 0; ok && i < out.length; i++) {
            JsonNode x = v.get(i);
            ok = x.isIntegralNumber() && x.canConvertToLong();
            out[i] = x.asLong();
        }
        if (!ok) {
            String what = count < 0 ? "an array of integers" : "an array of " + count + " integers";
            throw fail(file, at + "\"" + key + "\" must be " + what + ", not " + v + "." + REFETCH, null);
        }
        return out;
    }

    private static ByteBuffer read(FileChannel ch, long pos, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        while (b.hasRemaining()) {
            if (ch.read(b, pos + b.position()) < 0) {
                throw new IOException("unexpected end of file");
            }
        }
        return b.flip();
    }

    /** The key a strict parser saw twice (a tensor name, from the parser's state, not its message), or null. */
    private static String duplicateKey(JsonProcessingException e) {
        if (String.valueOf(e.getOriginalMessage()).startsWith("Duplicate field")
                && e.getProcessor() instanceof com.fasterxml.jackson.core.JsonParser p) {
            try {
                return p.currentName();
            } catch (RuntimeException | java.io.IOException ignored) {
                return null;
            }
        }
        return null;
    }

    static Align4jException fail(Path file, String message, Throwable cause) {
        return new Align4jException(file + ": " + message, cause);
    }

    static void closeQuietly(List<FileChannel> channels) {
        for (FileChannel ch : channels) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // read-only channel: nothing was lost
            }
        }
    }
}
