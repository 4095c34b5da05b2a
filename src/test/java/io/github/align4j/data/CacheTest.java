package io.github.align4j.data;

import static io.github.align4j.data.FileFormatsTest.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The tokenized-dataset cache: hits, misses on every input that matters, corrupt files. */
class CacheTest {
    private static final String ROWS = "{\"prompt\":\"Hello\",\"chosen\":\" world\",\"rejected\":\" there\",\"s\":1}\n"
            + "{\"prompt\":\"One\",\"chosen\":\" two\",\"rejected\":\" three\"}\n"
            + "{\"prompt\":\"x\",\"chosen\":\"\",\"rejected\":\" y\"}\n";

    @TempDir
    Path dir;

    private List<Path> cacheFiles(Path cache) throws IOException {
        try (Stream<Path> s = Files.list(cache)) {
            return s.sorted().toList();
        }
    }

    private static void assertSame(PreferenceData a, PreferenceData b) {
        assertEquals(a.layout(), b.layout());
        assertEquals(a.stats(), b.stats());
        assertEquals(a.texts(), b.texts());
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(a.pairs().get(i).prompt(), b.pairs().get(i).prompt());
            assertArrayEquals(a.pairs().get(i).chosen(), b.pairs().get(i).chosen());
            assertArrayEquals(a.pairs().get(i).rejected(), b.pairs().get(i).rejected());
            assertEquals(a.pairs().get(i).row(), b.pairs().get(i).row());
        }
    }

    @Test
    void aLibraryCallWithNoCacheDirWritesNoCache() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty("align4j.cache") == null);
        Path f = write(dir.resolve("d.jsonl"), ROWS);
        PreferenceData first = PreferenceData.load(f.toString(), DataOptions.defaults(), Fixtures.gpt2());
        PreferenceData second = PreferenceData.load(f.toString(), DataOptions.defaults(), Fixtures.gpt2());
        assertFalse(first.fromCache());
        assertFalse(second.fromCache(), "nothing was cached, so nothing is found");
        assertEquals(first.fingerprint(), second.fingerprint());
        assertEquals(first.size(), second.size());
        try (var s = java.nio.file.Files.list(dir)) {
            assertEquals(java.util.List.of(f), s.toList(), "only the data file is in its folder");
        }
    }

    @Test
    void secondLoadHitsAndChangesMiss() throws IOException {
        Path f = write(dir.resolve("d.jsonl"), ROWS);
        Path cache = dir.resolve("cache");
        DataOptions o = DataOptions.defaults().withCacheDir(cache);
        PreferenceData first = PreferenceData.load(f.toString(), o, Fixtures.gpt2());
        assertFalse(first.fromCache());
        assertEquals(1, cacheFiles(cache).size());
        assertEquals(first.fingerprint() + ".a4jt", cacheFiles(cache).get(0).getFileName().toString());

        PreferenceData second = PreferenceData.load(f.toString(), o, Fixtures.gpt2());
        assertTrue(second.fromCache());
        assertEquals(first.fingerprint(), second.fingerprint());
        assertSame(first, second);
        assertEquals(java.util.Map.of("empty_completion", 1L), second.stats().dropped());

        // another max_length is another key
        PreferenceData shorter = PreferenceData.load(f.toString(), o.withMaxLength(2), Fixtures.gpt2());
        assertFalse(shorter.fromCache());
        assertNotEquals(first.fingerprint(), shorter.fingerprint());
        assertTrue(PreferenceData.load(f.toString(), o.withMaxLength(2), Fixtures.gpt2()).fromCache());
        assertEquals(2, cacheFiles(cache).size());

        // same size, same mtime, other bytes: a miss (the bytes are hashed)
        FileTime mtime = Files.getLastModifiedTime(f);
        write(f, ROWS.replace("Hello", "Jello"));
        Files.setLastModifiedTime(f, mtime);
        PreferenceData changed = PreferenceData.load(f.toString(), o, Fixtures.gpt2());
        assertFalse(changed.fromCache());
        assertEquals("Jello", changed.texts().get(0).prompt());

        // another tokenizer, another key
        PreferenceData phi = PreferenceData.load(f.toString(), o, Fixtures.phi3());
        assertFalse(phi.fromCache());
        assertNotEquals(changed.fingerprint(), phi.fingerprint());

        // options that do not change the output do not change the key (the cache dir itself)
        Path other = dir.resolve("cache2");
        assertEquals(changed.fingerprint(),
                PreferenceData.load(f.toString(), o.withCacheDir(other), Fixtures.gpt2()).fingerprint());
    }

    @Test
    void templateAndColumnsAreInTheKey() throws IOException {
        Path f = write(dir.resolve("d.jsonl"), ROWS);
        DataOptions o = DataOptions.defaults().withCacheDir(dir.resolve("cache"));
        String plain = PreferenceData.load(f.toString(), o, Fixtures.phi3()).fingerprint();
        String chat = PreferenceData.load(f.toString(), o.withApplyChatTemplate(true), Fixtures.phi3()).fingerprint();
        Path t = write(dir.resolve("t.jinja"), "{% for m in messages %}{{ m['content'] }}{% endfor %}");
        String custom = PreferenceData.load(f.toString(), o.withApplyChatTemplate(true).withChatTemplateFile(t),
                Fixtures.phi3()).fingerprint();
        String mapped = PreferenceData.load(f.toString(), o.withColumns("chosen=rejected,rejected=chosen"),
                Fixtures.phi3()).fingerprint();
        assertEquals(4, java.util.Set.of(plain, chat, custom, mapped).size());
    }

    @Test
    void corruptCacheFileIsIgnoredAndRewritten() throws IOException {
        Path f = write(dir.resolve("d.jsonl"), ROWS);
        Path cache = dir.resolve("cache");
        DataOptions o = DataOptions.defaults().withCacheDir(cache);
        PreferenceData first = PreferenceData.load(f.toString(), o, Fixtures.gpt2());
        Path file = cacheFiles(cache).get(0);
        byte[] good = Files.readAllBytes(file);

        byte[] flipped = good.clone();
        flipped[flipped.length / 2] ^= 0x5a;
        for (byte[] bad : new byte[][] {flipped, java.util.Arrays.copyOf(good, good.length - 7), new byte[0],
                "A4JTOK01 not a cache".getBytes(java.nio.charset.StandardCharsets.US_ASCII)}) {
            Files.write(file, bad);
            PreferenceData again = PreferenceData.load(f.toString(), o, Fixtures.gpt2());
            assertFalse(again.fromCache());
            assertSame(first, again);
            assertArrayEquals(good, Files.readAllBytes(file), "rewritten");
            assertTrue(PreferenceData.load(f.toString(), o, Fixtures.gpt2()).fromCache());
        }
        assertEquals(1, cacheFiles(cache).size(), "no temporary files left behind");
    }

    @Test
    void defaultCacheDirFollowsTheSystemProperty() {
        String old = System.getProperty("align4j.cache");
        try {
            System.setProperty("align4j.cache", dir.toString());
            assertEquals(dir.resolve("tokenized"), DataOptions.defaults().effectiveCacheDir());
            assertEquals(dir.resolve("x"), DataOptions.defaults().withCacheDir(dir.resolve("x")).effectiveCacheDir());
            System.clearProperty("align4j.cache");
            assertEquals(null, DataOptions.defaults().effectiveCacheDir(), "a library call writes no cache by default");
            assertEquals(Path.of(System.getProperty("user.home"), ".cache", "align4j", "tokenized"),
                    DataOptions.defaultCacheDir(), "the command line's default");
        } finally {
            if (old == null) {
                System.clearProperty("align4j.cache");
            } else {
                System.setProperty("align4j.cache", old);
            }
        }
    }
}
