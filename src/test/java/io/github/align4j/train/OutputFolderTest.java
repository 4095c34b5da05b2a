package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What align4j may delete or replace in an output folder: only what its manifests, scratch markers
 * and lock file show it wrote; never through a symbolic link. Each case also checks that the files
 * of the user (inside the folder, and outside it behind links) are byte for byte as they were.
 */
class OutputFolderTest {
    private static final Set<String> NONE = Set.of();

    /** A folder that looks like a checkpoint align4j wrote: a manifest listing its one file. */
    static Path ourCheckpoint(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("trainer_state.json"), "{\"global_step\": 1}");
        Files.writeString(dir.resolve(Checkpoints.MANIFEST), "{\"format\": \"align4j-checkpoint\", \"version\": 1, "
                + "\"files\": [{\"path\": \"trainer_state.json\", \"bytes\": 19, \"sha256\": \"x\"}]}");
        return dir;
    }

    /** Every file under a folder (links not followed) with its content, to compare before and after. */
    static Map<String, String> snapshot(Path root) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.toList()) {
                String rel = root.relativize(p).toString();
                if (Files.isSymbolicLink(p)) {
                    m.put(rel, "-> " + Files.readSymbolicLink(p));
                } else if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    m.put(rel, Files.readString(p, StandardCharsets.ISO_8859_1));
                } else {
                    m.put(rel, "/");
                }
            }
        }
        return m;
    }

    /** Nothing changed, except that the refused run may have created its (empty) lock file. */
    static void assertUntouched(Map<String, String> before, Path out) throws IOException {
        Map<String, String> now = snapshot(out);
        if (!before.containsKey(".align4j.lock") && "".equals(now.get(".align4j.lock"))) {
            now.remove(".align4j.lock");
        }
        assertEquals(before, now);
    }

    static Align4jException refused(Path out, boolean resume, Boolean overwrite) {
        List<String> said = new ArrayList<>();
        Align4jException e = assertThrows(Align4jException.class, () -> OutputFolder.open(out, resume, overwrite, said::add).close());
        assertTrue(said.isEmpty(), "nothing removed: " + said);
        return e;
    }

    @Test
    void aFinalFolderAlign4jDidNotWriteIsNeverDeleted(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        Files.createDirectories(out.resolve("final/sub"));
        Files.writeString(out.resolve("final/thesis.tex"), "years of work");
        Files.writeString(out.resolve("final/sub/data.csv"), "1,2");
        ourCheckpoint(out.resolve("checkpoint-1"));
        Map<String, String> before = snapshot(out);
        for (boolean resume : new boolean[] {false, true}) {
            for (Boolean overwrite : resume ? new Boolean[] {null} : new Boolean[] {true, null, false}) {
                Align4jException e = refused(out, resume, overwrite);
                assertTrue(e.getMessage().contains("final/ (no align4j manifest.json)"), e.getMessage());
                assertTrue(e.getMessage().contains("Move these out of the folder yourself"), e.getMessage());
                assertFalse(e.getMessage().contains("checkpoint-1"), "align4j's own is not listed: " + e.getMessage());
            }
        }
        assertUntouched(before, out);

        // a manifest of another program, and an align4j checkpoint the user added a file to, are not align4j's either
        Files.writeString(out.resolve("final/manifest.json"), "{\"format\": \"something-else\"}");
        Files.writeString(out.resolve("checkpoint-1/notes.txt"), "mine");
        before = snapshot(out);
        Align4jException e = refused(out, false, true);
        assertTrue(e.getMessage().contains("final/ (manifest.json is not an align4j checkpoint manifest)"), e.getMessage());
        assertTrue(e.getMessage().contains("checkpoint-1/ (holds files its manifest does not list: notes.txt)"), e.getMessage());
        assertUntouched(before, out);
        assertThrows(Align4jException.class, () -> OutputFolder.deleteOurs(out.resolve("checkpoint-1"), false));
        assertUntouched(before, out);

        // once the user has moved them out, overwrite removes align4j's own checkpoint and nothing else
        Files.delete(out.resolve("checkpoint-1/notes.txt"));
        Path moved = dir.resolve("kept-final");
        Files.move(out.resolve("final"), moved);
        Files.writeString(out.resolve("notes.txt"), "mine");
        List<String> said = new ArrayList<>();
        OutputFolder.open(out, false, true, said::add).close();
        assertEquals(List.of("overwrite: removed the earlier run's checkpoint-1 from " + out), said);
        assertFalse(Files.exists(out.resolve("checkpoint-1")));
        assertEquals("mine", Files.readString(out.resolve("notes.txt")));
        assertEquals("years of work", Files.readString(moved.resolve("thesis.tex")));
    }

    @Test
    void scratchFoldersAlign4jDidNotCreateAreLeftAndRefused(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        for (String n : List.of(".checkpoint-3.tmp", ".final.old", ".checkpoint-2.deleting", ".metrics.jsonl.tmp")) {
            Files.createDirectories(out.resolve(n));
            Files.writeString(out.resolve(n).resolve("mine.txt"), n);
        }
        Files.writeString(out.resolve(".final.tmp"), "a file, not a folder");
        Files.createDirectories(out.resolve(".something-else.tmp")); // not a name align4j uses: no concern of it
        Files.writeString(out.resolve(".something-else.tmp/x"), "x");
        Map<String, String> before = snapshot(out);
        for (boolean resume : new boolean[] {false, true}) {
            Align4jException e = refused(out, resume, resume ? null : true);
            for (String n : List.of(".checkpoint-3.tmp/", ".final.old/", ".checkpoint-2.deleting/", ".metrics.jsonl.tmp/")) {
                assertTrue(e.getMessage().contains(n + " (no align4j manifest.json or .align4j-scratch)"), n + ": " + e.getMessage());
            }
            assertTrue(e.getMessage().contains(".final.tmp (not a folder)"), e.getMessage());
            assertFalse(e.getMessage().contains("something-else"), e.getMessage());
        }
        assertUntouched(before, out);
    }

    @Test
    void scratchFoldersAlign4jMadeAreTidied(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        Files.createDirectories(out);
        OutputFolder.createScratch(out.resolve(".checkpoint-4.tmp"));
        Files.writeString(out.resolve(".checkpoint-4.tmp/model.safetensors"), "torn");
        Files.createDirectories(out.resolve(".checkpoint-4.tmp/.optimizer.safetensors.d"));
        Files.writeString(out.resolve(".checkpoint-4.tmp/.optimizer.safetensors.d/model.safetensors"), "torn");
        Files.createDirectories(out.resolve(".checkpoint-5.tmp")); // killed between mkdir and its marker: empty
        ourCheckpoint(out.resolve(".checkpoint-2.deleting"));
        Files.delete(out.resolve(".checkpoint-2.deleting/trainer_state.json")); // killed mid-delete: manifest goes last
        ourCheckpoint(out.resolve(".checkpoint-1.old")); // moved aside mid-replace, checkpoint-1 missing: moved back
        OutputFolder.open(out, true, null, s -> {}).close();
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(List.of(".align4j.lock", "checkpoint-1"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertNull(OutputFolder.notACheckpointOfOurs(out.resolve("checkpoint-1")));
    }

    @Test
    void symbolicLinksAreRefusedNeverFollowed(@TempDir Path dir) throws Exception {
        Path outside = dir.resolve("outside");
        Files.createDirectories(outside.resolve("folder"));
        Files.writeString(outside.resolve("bashrc"), "export PATH=/usr/bin");
        Files.writeString(outside.resolve("folder/keep.txt"), "keep");
        ourCheckpoint(outside.resolve("ckpt")); // even an align4j checkpoint, when reached through a link
        Map<String, String> outsideBefore = snapshot(outside);

        Path out = dir.resolve("run");
        Files.createDirectories(out);
        Files.createSymbolicLink(out.resolve("metrics.jsonl"), outside.resolve("bashrc"));
        Files.createSymbolicLink(out.resolve("checkpoint-2"), outside.resolve("ckpt"));
        Files.createSymbolicLink(out.resolve("final"), outside.resolve("folder"));
        Files.createSymbolicLink(out.resolve(".checkpoint-3.tmp"), outside.resolve("folder"));
        ourCheckpoint(out.resolve("checkpoint-1"));
        Files.delete(out.resolve("checkpoint-1/trainer_state.json"));
        Files.createSymbolicLink(out.resolve("checkpoint-1/trainer_state.json"), outside.resolve("bashrc"));
        Files.writeString(out.resolve(".align4j.lock"), "{\"format\": \"align4j-output\", \"wrote\": [\"metrics.jsonl\"]}");
        Map<String, String> before = snapshot(out);
        for (boolean resume : new boolean[] {false, true}) {
            Align4jException e = refused(out, resume, resume ? null : true);
            for (String n : List.of("metrics.jsonl (a symbolic link)", "checkpoint-2 (a symbolic link)", "final (a symbolic link)",
                    ".checkpoint-3.tmp (a symbolic link)", "checkpoint-1/ (holds symbolic links or special files: trainer_state.json)")) {
                assertTrue(e.getMessage().contains(n), n + ": " + e.getMessage());
            }
        }
        assertUntouched(before, out);
        assertEquals(outsideBefore, snapshot(outside));

        // the lower layers refuse links on their own too
        for (String n : List.of("checkpoint-2", "final", "checkpoint-1")) {
            assertThrows(Align4jException.class, () -> OutputFolder.deleteOurs(out.resolve(n), false), n);
        }
        assertThrows(Align4jException.class, () -> OutputFolder.deleteOurs(out.resolve(".checkpoint-3.tmp"), true));
        assertThrows(IOException.class, () -> Checkpoints.deleteTree(out.resolve("final")));
        assertTrue(RestoreChecks.verify(out.resolve("checkpoint-2"), false) != null, "a linked checkpoint is not loaded");
        assertTrue(RestoreChecks.verify(out.resolve("checkpoint-1"), false).contains("symbolic link"));
        assertFalse(Checkpoints.candidates(out).contains(out.resolve("checkpoint-2")));
        Align4jException m = assertThrows(Align4jException.class,
                () -> MetricsLog.resumed(out, List.of(Map.of("step", 1)), 0));
        assertTrue(m.getMessage().contains("symbolic link"), m.getMessage());
        m = assertThrows(Align4jException.class, () -> new MetricsLog(out, false).close());
        assertTrue(m.getMessage().contains("symbolic link"), m.getMessage());
        assertUntouched(before, out);
        assertEquals(outsideBefore, snapshot(outside));
    }

    @Test
    void theLockFileIsNeverFollowedOrOverwrittenWhenNotAlign4js(@TempDir Path dir) throws Exception {
        Path outside = dir.resolve("profile");
        Files.writeString(outside, "mine");
        Path out = dir.resolve("run");
        Files.createDirectories(out);
        Files.createSymbolicLink(out.resolve(".align4j.lock"), outside);
        Align4jException e = refused(out, false, true);
        assertTrue(e.getMessage().contains("is a symbolic link"), e.getMessage());
        assertEquals("mine", Files.readString(outside));

        Files.delete(out.resolve(".align4j.lock"));
        Files.writeString(out.resolve(".align4j.lock"), "my own notes");
        e = refused(out, true, null);
        assertTrue(e.getMessage().contains("not one align4j wrote"), e.getMessage());
        assertEquals("my own notes", Files.readString(out.resolve(".align4j.lock")));
    }

    @Test
    void metricsAreReplacedOnlyWhenTheLockRecordsThem(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        Files.createDirectories(out);
        Files.writeString(out.resolve("metrics.jsonl"), "{\"my\": \"experiment\"}\n");
        Align4jException e = refused(out, false, true);
        assertTrue(e.getMessage().contains("metrics.jsonl (.align4j.lock has no record that align4j wrote it)"), e.getMessage());
        refused(out, false, false); // a fresh run would truncate it: refused too
        assertEquals("{\"my\": \"experiment\"}\n", Files.readString(out.resolve("metrics.jsonl")));

        Files.delete(out.resolve("metrics.jsonl"));
        OutputFolder.open(out, false, false, s -> {}).close(); // the run's record: it will write metrics.jsonl
        assertTrue(Files.readString(out.resolve(".align4j.lock")).contains("\"metrics.jsonl\""));
        try (MetricsLog log = new MetricsLog(out, false)) {
            log.onLog(Map.of("step", 1));
        }
        List<String> said = new ArrayList<>();
        OutputFolder.open(out, false, true, said::add).close();
        assertEquals(List.of("overwrite: removed the earlier run's metrics.jsonl from " + out), said);
        assertFalse(Files.exists(out.resolve("metrics.jsonl")));

        // a resume rewrites it through an align4j scratch folder, which is gone afterwards
        try (MetricsLog log = MetricsLog.resumed(out, List.of(Map.of("step", 1)), 0)) {
            log.onLog(Map.of("step", 2));
        }
        assertEquals(List.of("{\"step\":1}", "{\"step\":2}"), Files.readAllLines(out.resolve("metrics.jsonl")));
        assertFalse(Files.exists(out.resolve(".metrics.jsonl.tmp")));
    }

    @Test
    void pruneDeletesOnlyCheckpointsAlign4jWrote(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        for (int i = 1; i <= 4; i++) {
            Path c = ourCheckpoint(out.resolve("checkpoint-" + i));
            // a manifest that verify accepts: real size and checksum
            Path st = c.resolve("trainer_state.json");
            Files.writeString(c.resolve(Checkpoints.MANIFEST), "{\"format\": \"align4j-checkpoint\", \"version\": 1, \"files\": "
                    + "[{\"path\": \"trainer_state.json\", \"bytes\": " + Files.size(st) + ", \"sha256\": \""
                    + Checkpoints.sha256(st, false) + "\"}]}");
            assertNull(RestoreChecks.verify(c, true));
        }
        Files.writeString(out.resolve("checkpoint-1/notes.txt"), "mine"); // the user's file inside an old checkpoint
        List<Path> removed = Checkpoints.prune(out, 1);
        assertEquals(List.of(out.resolve("checkpoint-3"), out.resolve("checkpoint-2")), removed);
        assertEquals("mine", Files.readString(out.resolve("checkpoint-1/notes.txt")));
        assertTrue(Files.exists(out.resolve("checkpoint-4")));
    }
}
