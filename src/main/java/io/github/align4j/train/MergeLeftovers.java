package io.github.align4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.Texts;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * What a {@link MergeOutput} folder holds before a merge writes into it, each entry sorted into one
 * of: foreign (align4j did not write it: the merge is refused and it is never touched), leftovers of
 * an interrupted merge (provably align4j's: listed with sizes, removed with {@code --overwrite}), and
 * an earlier complete merge (replaced on commit with {@code --overwrite}).
 *
 * @param complete whether the earlier merge's files all match its manifest
 */
record MergeLeftovers(List<String> foreign, Map<String, Long> leftovers, List<String> earlier, boolean complete) {
    /** A temporary file that align4j's atomic writes (FileTrees.writeAtomically) leave beside X after a kill. */
    private static final Pattern ATOMIC_TMP = Pattern.compile("\\.(.+)\\.[0-9a-f]{1,16}\\.tmp");
    private static final Pattern MODEL_FILE = MergeOutput.MODEL_FILE;
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;

    /**
     * Refuses the folder when it holds anything foreign, or (without overwrite) leftovers or an earlier
     * merge; with overwrite, removes the leftovers now and says so.
     */
    void refuseOrTidy(Path out, boolean overwrite, Consumer<String> say) {
        if (!foreign.isEmpty()) {
            throw new Align4jException("--out " + out + ": holds what align4j did not write: " + shortList(foreign)
                    + ". merge writes into a new or empty folder (or one holding only an earlier align4j merge, which "
                    + "--overwrite replaces) and never deletes anything else. Move these out of the folder, or "
                    + "choose another folder.");
        }
        if (!leftovers.isEmpty() && !overwrite) {
            throw new Align4jException("--out " + out + ": holds what an interrupted align4j merge left: "
                    + leftovers.entrySet().stream().map(e -> e.getKey() + " (" + size(e.getValue()) + ")")
                            .collect(Collectors.joining(", "))
                    + ". Run again with --overwrite to remove exactly these, or remove them yourself: rm -r -- "
                    + leftovers.keySet().stream().map(n -> quote(out.resolve(n.replaceAll("/$", ""))))
                            .collect(Collectors.joining(" ")));
        }
        if (!earlier.isEmpty() && complete && !overwrite) {
            throw new Align4jException("--out " + out + ": already holds a model merged by align4j ("
                    + String.join(", ", earlier) + "). Replace it with --overwrite (it is replaced only once the "
                    + "new merge is complete), or choose another folder.");
        }
        if (!leftovers.isEmpty()) {
            for (String n : leftovers.keySet()) {
                removeLeftover(out.resolve(n.replaceAll("/$", "")));
            }
            say.accept("overwrite: removed what an interrupted merge left in " + out + ": "
                    + String.join(", ", leftovers.keySet()));
        }
    }

    /** Sorts every entry of {@code out} into foreign, leftovers of an interrupted merge, and an earlier merge. */
    static MergeLeftovers survey(Path out, Set<String> wrote) {
        List<String> foreign = new ArrayList<>();
        Map<String, Long> leftovers = new TreeMap<>();
        List<String> earlier = new ArrayList<>();
        Map<String, Long> listed = readManifest(out.resolve(MergeOutput.MANIFEST));
        boolean complete = listed != null;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(out)) {
            for (Path p : s) {
                String n = p.getFileName().toString();
                if (n.equals(OutputFolder.LOCK)) {
                    continue;
                }
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, NOFOLLOW);
                if (a.isSymbolicLink() || a.isOther()) {
                    foreign.add(Texts.printable(n) + " (a symbolic link or special file)");
                } else if (n.equals(MergeOutput.SCRATCH) && a.isDirectory()) {
                    String why = OutputFolder.notScratchOfOurs(p);
                    if (why != null) {
                        foreign.add(n + "/ (" + Texts.printable(why) + ")");
                    } else {
                        leftovers.put(n + "/", treeSize(p));
                    }
                } else if (a.isDirectory()) {
                    foreign.add(Texts.printable(n) + "/");
                } else if (listed != null && listed.containsKey(n)) {
                    earlier.add(n);
                    complete &= listed.get(n) == a.size();
                } else if (wrote.contains(n)) {
                    leftovers.put(n, a.size());
                } else if (isAtomicTemp(n)) {
                    leftovers.put(n, a.size());
                } else {
                    foreign.add(Texts.printable(n));
                }
            }
        } catch (IOException e) {
            throw new Align4jException("--out " + out + ": cannot list the folder: " + OutputFolder.describe(e), e);
        }
        if (listed != null) {
            complete &= earlier.size() == listed.size();
            if (!complete) { // a torn earlier merge: what it left, provably ours, is a leftover
                for (String n : earlier) {
                    leftovers.put(n, sizeOf(out.resolve(n)));
                }
                earlier.clear();
            }
        }
        foreign.sort(null);
        earlier.sort(null);
        return new MergeLeftovers(foreign, leftovers, earlier, complete);
    }

    /** A hidden temporary file of an atomic write of one of a merged model's files (what a kill leaves). */
    static boolean isAtomicTemp(String n) {
        var m = ATOMIC_TMP.matcher(n);
        return m.matches() && MODEL_FILE.matcher(m.group(1)).matches();
    }

    /** Name → size of the files an align4j-merge manifest lists (the manifest itself included), or null when none. */
    private static Map<String, Long> readManifest(Path mf) {
        if (!Files.isRegularFile(mf, NOFOLLOW)) {
            return null;
        }
        JsonNode m;
        try {
            if (Files.size(mf) > 1 << 20) {
                return null;
            }
            m = Checkpoints.json().readTree(mf.toFile());
        } catch (IOException | RuntimeException e) {
            return null;
        }
        if (m == null || !MergeOutput.FORMAT.equals(m.path("format").asText()) || !m.path("files").isArray()) {
            return null;
        }
        Map<String, Long> files = new LinkedHashMap<>();
        for (JsonNode e : m.get("files")) {
            String n = e.path("path").asText("");
            if (!MODEL_FILE.matcher(n).matches() || n.equals(MergeOutput.MANIFEST) || !e.path("bytes").canConvertToLong()) {
                return null;
            }
            files.put(n, e.path("bytes").asLong());
        }
        try {
            files.put(MergeOutput.MANIFEST, Files.size(mf));
        } catch (IOException e) {
            return null;
        }
        return files;
    }

    private static void removeLeftover(Path p) {
        try {
            if (Files.isDirectory(p, NOFOLLOW)) {
                OutputFolder.deleteOurs(p, true);
            } else {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new Align4jException(p + ": cannot remove what an interrupted merge left: " + OutputFolder.describe(e), e);
        }
    }

    private static long treeSize(Path dir) throws IOException {
        long[] n = {0};
        Files.walkFileTree(dir, new java.nio.file.SimpleFileVisitor<>() {
            @Override
            public java.nio.file.FileVisitResult visitFile(Path f, BasicFileAttributes a) {
                n[0] += a.isRegularFile() ? a.size() : 0;
                return java.nio.file.FileVisitResult.CONTINUE;
            }
        });
        return n[0];
    }

    private static long sizeOf(Path f) {
        try {
            return Files.size(f);
        } catch (IOException e) {
            return 0;
        }
    }

    static String size(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        double v = bytes;
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    private static String shortList(List<String> names) {
        return names.size() <= 10 ? String.join(", ", names)
                : String.join(", ", names.subList(0, 10)) + " and " + (names.size() - 10) + " more";
    }

    private static String quote(Path p) {
        return "'" + p.toString().replace("'", "'\\''") + "'";
    }
}
