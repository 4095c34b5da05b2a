package io.github.align4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How MergeLeftovers sorts a merge's output folder before anything is written, and what it refuses or removes. */
class MergeLeftoversTest {
    @TempDir
    Path out;

    private void write(String name, int bytes) throws Exception {
        Files.write(out.resolve(name), new byte[bytes]);
    }

    private void manifest(String file, long bytes) throws Exception {
        Files.writeString(out.resolve(MergeOutput.MANIFEST), "{\"format\":\"" + MergeOutput.FORMAT + "\",\"version\":1,"
                + "\"files\":[{\"path\":\"" + file + "\",\"bytes\":" + bytes + ",\"sha256\":\"00\"}]}");
    }

    @Test
    void sortsForeignEntriesFromWhatAnInterruptedMergeLeft() throws Exception {
        write(OutputFolder.LOCK, 7); // the lock file is the caller's: neither foreign nor a leftover
        write("notes.txt", 4);
        Files.createDirectory(out.resolve("sub"));
        write(".config.json.1f.tmp", 3); // an atomic write's temporary file of a model file: a kill left it
        write(".notes.txt.1f.tmp", 2); // the same shape for a name a merge never writes: not ours
        write(".config.json.zz.tmp", 2); // not a hex suffix: not ours
        write("model.safetensors", 5); // recorded in the lock file as written by a merge
        MergeLeftovers f = MergeLeftovers.survey(out, Set.of("model.safetensors"));
        assertEquals(List.of(".config.json.zz.tmp", ".notes.txt.1f.tmp", "notes.txt", "sub/"), f.foreign());
        assertEquals(Map.of(".config.json.1f.tmp", 3L, "model.safetensors", 5L), f.leftovers());
        assertEquals(List.of(), f.earlier());
        assertFalse(f.complete());
        Align4jException e = assertThrows(Align4jException.class, () -> f.refuseOrTidy(out, true, s -> {}));
        assertTrue(e.getMessage().contains("did not write: .config.json.zz.tmp, .notes.txt.1f.tmp, notes.txt, sub/"),
                e.getMessage());
        assertTrue(Files.exists(out.resolve("model.safetensors")), "nothing is removed while anything foreign is there");
    }

    @Test
    void anEarlierCompleteMergeIsKeptAndATornOneIsALeftover() throws Exception {
        write("config.json", 10);
        manifest("config.json", 10);
        MergeLeftovers whole = MergeLeftovers.survey(out, Set.of());
        assertTrue(whole.complete());
        assertEquals(List.of("config.json", MergeOutput.MANIFEST), whole.earlier());
        assertEquals(Map.of(), whole.leftovers());
        Align4jException e = assertThrows(Align4jException.class, () -> whole.refuseOrTidy(out, false, s -> {}));
        assertTrue(e.getMessage().contains("already holds a model merged by align4j (config.json, manifest.json)"),
                e.getMessage());
        whole.refuseOrTidy(out, true, s -> {}); // replaced on commit, not now
        assertTrue(Files.exists(out.resolve("config.json")));

        write("config.json", 11); // no longer the size its manifest lists: a torn merge
        MergeLeftovers torn = MergeLeftovers.survey(out, Set.of());
        assertFalse(torn.complete());
        assertEquals(List.of(), torn.earlier());
        assertEquals(Set.of("config.json", MergeOutput.MANIFEST), torn.leftovers().keySet());
        assertEquals(11L, torn.leftovers().get("config.json"));
    }

    @Test
    void leftoversAreListedWithSizesAndRemovedOnlyWithOverwrite() throws Exception {
        write(".config.json.abc.tmp", 1536);
        MergeLeftovers f = MergeLeftovers.survey(out, Set.of());
        Align4jException e = assertThrows(Align4jException.class, () -> f.refuseOrTidy(out, false, s -> {}));
        assertTrue(e.getMessage().contains(".config.json.abc.tmp (1.5 KiB)"), e.getMessage());
        assertTrue(e.getMessage().contains("rm -r -- '" + out.resolve(".config.json.abc.tmp") + "'"), e.getMessage());
        assertTrue(Files.exists(out.resolve(".config.json.abc.tmp")));
        List<String> said = new ArrayList<>();
        f.refuseOrTidy(out, true, said::add);
        assertFalse(Files.exists(out.resolve(".config.json.abc.tmp")));
        assertEquals(List.of("overwrite: removed what an interrupted merge left in " + out + ": .config.json.abc.tmp"), said);
    }

    @Test
    void sizesReadAsPeopleWriteThem() {
        assertEquals("1023 B", MergeLeftovers.size(1023));
        assertEquals("1.0 KiB", MergeLeftovers.size(1024));
        assertEquals("2.5 MiB", MergeLeftovers.size(5L << 19));
    }
}
