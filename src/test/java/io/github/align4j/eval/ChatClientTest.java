package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.Align4jException;
import io.github.align4j.eval.JudgeServer.Action;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link ChatClient} against a scripted OpenAI-compatible server on the loopback address. */
class ChatClientTest {
    static final String KEY = "sk-test-SECRET-0123456789";

    @TempDir
    Path dir;

    final List<Long> sleeps = Collections.synchronizedList(new ArrayList<>());

    ChatClient client(JudgeServer s, ChatClient.Options o) {
        return new ChatClient(o, sleeps::add, new Random(1));
    }

    ChatClient.Options opts(JudgeServer s) {
        return ChatClient.Options.of(s.url(), "judge-1").withApiKey("TEST_KEY", KEY).withMaxTokens(77)
                .withRetries(3, Duration.ofMillis(8), Duration.ofMillis(50)).withTimeout(Duration.ofSeconds(20));
    }

    @Test
    void sendsTheOpenAiRequestAndSumsUsage() throws Exception {
        try (JudgeServer s = new JudgeServer(r -> Action.reply("Rating: [[7]]"))) {
            ChatClient c = client(s, opts(s));
            ChatClient.Reply r = c.complete("sys", "rate this");
            assertEquals("Rating: [[7]]", r.content());
            assertFalse(r.cached());
            c.complete(null, "another");
            JsonNode b = s.bodies().get(0);
            assertEquals("judge-1", b.get("model").asText());
            assertEquals(0, b.get("temperature").asInt());
            assertEquals(77, b.get("max_tokens").asInt());
            assertEquals("system", b.get("messages").get(0).get("role").asText());
            assertEquals("sys", b.get("messages").get(0).get("content").asText());
            assertEquals("user", b.get("messages").get(1).get("role").asText());
            assertEquals(1, s.bodies().get(1).get("messages").size(), "no system message when none is given");
            assertEquals("Bearer " + KEY, s.authorizations().get(0));
            ChatClient.Usage u = c.usage();
            assertEquals(2, u.answered());
            assertEquals(20, u.promptTokens());
            assertEquals(10, u.completionTokens());
            assertFalse(c.options().toString().contains(KEY));
            assertFalse(u.toString().contains(KEY));
        }
    }

    @Test
    void theCacheAnswersRepeatedPromptsAcrossRuns() throws Exception {
        Path cache = dir.resolve("cache.jsonl");
        try (JudgeServer s = new JudgeServer(r -> Action.reply("[[" + (r.index() + 1) + "]]"))) {
            ChatClient c = client(s, opts(s).withCache(cache));
            assertEquals("[[1]]", c.complete("sys", "a").content());
            assertEquals("[[1]]", c.complete("sys", "a").content());
            assertEquals("[[2]]", c.complete("sys", "b").content());
            assertEquals(2, s.requests());
            // a new client (a rerun) reads the file and asks nothing
            ChatClient again = client(s, opts(s).withCache(cache));
            ChatClient.Reply r = again.complete("sys", "b");
            assertEquals("[[2]]", r.content());
            assertTrue(r.cached());
            assertEquals(2, s.requests());
            assertEquals(1, again.usage().cached());
            assertEquals(0, again.usage().promptTokens(), "cached replies cost nothing");
            // another judge model, or another system prompt, is another key
            client(s, opts(s).withCache(cache).withApiKey(null, null)).complete("sys", "a");
            assertEquals(2, s.requests());
            new ChatClient(ChatClient.Options.of(s.url(), "judge-2").withCache(cache), sleeps::add, new Random(1))
                    .complete("sys", "a");
            client(s, opts(s).withCache(cache)).complete("other", "a");
            assertEquals(4, s.requests());
            String text = Files.readString(cache, StandardCharsets.UTF_8);
            assertFalse(text.contains(KEY));
            assertFalse(text.contains("\"a\""), "prompts are hashed, not stored");
        }
    }

    @Test
    void aTornCacheLineIsIgnoredAndTheNextRecordStartsOnItsOwnLine() throws Exception {
        Path cache = dir.resolve("cache.jsonl");
        try (JudgeServer s = new JudgeServer(r -> Action.reply("[[" + (r.index() + 1) + "]]"))) {
            client(s, opts(s).withCache(cache)).complete(null, "a");
            Files.writeString(cache, "{\"key\":\"abc\",\"content\":\"tor", StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.APPEND); // killed mid-write
            ChatClient c = client(s, opts(s).withCache(cache));
            assertEquals(1, c.unreadableCacheLines());
            assertEquals("[[1]]", c.complete(null, "a").content());
            assertEquals("[[2]]", c.complete(null, "b").content());
            ChatClient d = client(s, opts(s).withCache(cache));
            assertEquals(1, d.unreadableCacheLines());
            assertEquals("[[2]]", d.complete(null, "b").content());
            assertEquals(2, s.requests());
        }
    }

    @Test
    void retriesA429AfterItsRetryAfter() throws Exception {
        try (JudgeServer s = new JudgeServer(r -> r.index() < 2
                ? Action.status(429, "{\"error\":{\"message\":\"rate limited\"}}").withRetryAfter("3")
                : Action.reply("[[4]]"))) {
            ChatClient c = client(s, opts(s));
            assertEquals("[[4]]", c.complete(null, "q").content());
            assertEquals(3, s.requests());
            assertEquals(2, sleeps.size());
            sleeps.forEach(ms -> assertTrue(ms >= 3000, "Retry-After: 3 means at least 3 s, slept " + ms));
            assertEquals(2, c.usage().retries());
        }
    }

    @Test
    void backsOffExponentiallyWithJitterOn5xx() throws Exception {
        try (JudgeServer s = new JudgeServer(r -> r.index() < 3 ? Action.status(500 + r.index(), "oops") : Action.reply("[[9]]"))) {
            ChatClient c = client(s, opts(s).withRetries(5, Duration.ofMillis(8), Duration.ofMillis(20)));
            assertEquals("[[9]]", c.complete(null, "q").content());
            assertEquals(4, s.requests());
            // caps 8, 16, 20 ms: each delay in [cap/2, cap]
            long[] caps = {8, 16, 20};
            for (int i = 0; i < 3; i++) {
                long d = sleeps.get(i);
                assertTrue(d >= caps[i] / 2 && d <= caps[i], "delay " + i + " = " + d);
            }
        }
    }

    @Test
    void aSlowReplyPastTheTimeoutIsRetried() throws Exception {
        try (JudgeServer s = new JudgeServer(r -> r.index() == 0 ? Action.reply("[[1]]").after(3000) : Action.reply("[[2]]"))) {
            ChatClient c = client(s, opts(s).withTimeout(Duration.ofMillis(300)));
            assertEquals("[[2]]", c.complete(null, "q").content());
            assertEquals(1, c.usage().retries());
        }
    }

    @Test
    void aDroppedConnectionIsRetried() throws Exception {
        try (JudgeServer s = new JudgeServer(r -> r.index() == 0 ? Action.drop() : Action.reply("[[3]]"))) {
            ChatClient c = client(s, opts(s));
            assertEquals("[[3]]", c.complete(null, "q").content());
            assertEquals(2, s.requests());
        }
    }

    @Test
    void aReplyThatIsNotAChatCompletionIsRetriedThenReported() throws Exception {
        try (JudgeServer s = new JudgeServer(r -> Action.status(200, "<html>proxy error</html>"))) {
            ChatClient c = client(s, opts(s));
            Align4jException e = assertThrows(Align4jException.class, () -> c.complete(null, "q"));
            assertEquals(4, s.requests(), "1 attempt + 3 retries");
            assertTrue(e.getMessage().contains(s.url()), e.getMessage());
            assertTrue(e.getMessage().contains("judge-1"), e.getMessage());
            assertTrue(e.getMessage().contains("gave up after 4 attempts"), e.getMessage());
        }
    }

    @Test
    void unauthorizedAndNotFoundFailAtOnceNamingUrlAndModelButNotTheKey() throws Exception {
        for (int status : new int[] {401, 404}) {
            // servers may echo the key in their error; it must not reach the message
            try (JudgeServer s = new JudgeServer(r -> Action.status(status, "{\"error\":\"Incorrect API key " + KEY + "\"}"))) {
                ChatClient c = client(s, opts(s));
                Align4jException e = assertThrows(Align4jException.class, () -> c.complete(null, "q"));
                assertEquals(1, s.requests(), "no retry on " + status);
                assertTrue(e.getMessage().contains(s.url() + "/chat/completions"), e.getMessage());
                assertTrue(e.getMessage().contains("'judge-1'"), e.getMessage());
                assertTrue(e.getMessage().contains("HTTP " + status), e.getMessage());
                assertFalse(e.getMessage().contains(KEY), e.getMessage());
                if (status == 401) {
                    assertTrue(e.getMessage().contains("$TEST_KEY"), e.getMessage());
                }
            }
        }
    }

    @Test
    void completeAllKeepsOrderWithConcurrentRequests() throws Exception {
        try (JudgeServer s = new JudgeServer(r -> Action.reply("echo " + r.user()).after(r.index() % 3 * 20L))) {
            ChatClient c = client(s, opts(s).withConcurrency(4));
            List<ChatClient.Prompt> ps = IntStream.range(0, 12).mapToObj(i -> new ChatClient.Prompt("s", "p" + i)).toList();
            List<ChatClient.Reply> rs = c.completeAll(ps);
            for (int i = 0; i < 12; i++) {
                assertEquals("echo p" + i, rs.get(i).content());
            }
            assertEquals(12, c.usage().answered());
        }
    }

    @Test
    void aServerThatIsNotThereIsNamedInTheError() throws Exception {
        int port;
        try (java.net.ServerSocket free = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = free.getLocalPort();
        }
        ChatClient c = client(null, ChatClient.Options.of("http://127.0.0.1:" + port + "/v1", "judge-1")
                .withRetries(1, Duration.ofMillis(1), Duration.ofMillis(1)));
        Align4jException e = assertThrows(Align4jException.class, () -> c.complete(null, "q"));
        assertTrue(e.getMessage().contains("127.0.0.1:" + port + "/v1/chat/completions (model 'judge-1')"), e.getMessage());
        assertTrue(e.getMessage().contains("cannot connect"), e.getMessage());
        assertEquals(1, sleeps.size());
    }

    @Test
    void optionsAreChecked() {
        assertThrows(Align4jException.class, () -> ChatClient.Options.of("ftp://x/v1", "m"));
        assertThrows(Align4jException.class, () -> ChatClient.Options.of("http://127.0.0.1/v1", " "));
        assertEquals("http://127.0.0.1:9/v1/chat/completions", ChatClient.Options.of("http://127.0.0.1:9/v1/", "m").endpoint().toString());
        assertEquals("http://h/v1/chat/completions", ChatClient.Options.of("http://h/v1/chat/completions", "m").endpoint().toString());
    }

    // ---- issue 17: secrets, loopback, unusable replies, cache key, usage, terminal escapes ----------

    /** A canary key: none of its runs of 8 characters may appear anywhere align4j writes or says. */
    static final String CANARY = "sk-test-CANARYKEY0123456789abcdefXY";

    static void assertNoCanary(String where, String text) {
        for (int i = 0; i + Secrets.MIN_PIECE <= CANARY.length(); i++) {
            String piece = CANARY.substring(i, i + Secrets.MIN_PIECE);
            assertFalse(text.contains(piece), where + " holds '" + piece + "' of the key: " + text);
        }
    }

    ChatClient.Options canary(JudgeServer s) {
        return opts(s).withApiKey("CANARY_KEY", CANARY).withRetries(1, Duration.ofMillis(1), Duration.ofMillis(1));
    }

    @Test
    void aKeyAcrossTheExcerptCutIsRemovedBeforeTheCut() throws Exception {
        // the key starts 10 characters before the 300-character cut: cutting first would print most of it
        String body = "x".repeat(283) + " Bearer " + CANARY + " was rejected";
        for (int status : new int[] {401, 400, 500}) {
            try (JudgeServer s = new JudgeServer(r -> Action.status(status, body))) {
                Align4jException e = assertThrows(Align4jException.class, () -> client(s, canary(s)).complete(null, "q"));
                assertTrue(e.getMessage().contains("Bearer ***"), e.getMessage());
                assertNoCanary("HTTP " + status + " message", e.getMessage());
            }
        }
    }

    @Test
    void aReplyThatEchoesTheKeyIsNeverCachedOrReturnedWithIt() throws Exception {
        Path cache = dir.resolve("cache.jsonl");
        // the whole key, "Bearer KEY", and a prefix of 12 characters (what a cut would leave)
        String echo = "Your key " + CANARY + ", header Bearer " + CANARY + ", or " + CANARY.substring(0, 12) + "... [[7]]";
        try (JudgeServer s = new JudgeServer(r -> Action.reply(echo))) {
            ChatClient.Reply r = client(s, canary(s).withCache(cache)).complete("sys", "q");
            assertEquals("Your key ***, header Bearer ***, or ***... [[7]]", r.content());
            ChatClient.Reply again = client(s, canary(s).withCache(cache)).complete("sys", "q");
            assertTrue(again.cached());
            assertEquals(r.content(), again.content());
            assertNoCanary("the cache", Files.readString(cache, StandardCharsets.UTF_8));
        }
        // a cache written before the key was removed: the key is removed when it is read
        Path old = dir.resolve("old.jsonl");
        try (JudgeServer s = new JudgeServer(r -> Action.reply("[[2]]"))) {
            ChatClient c = client(s, canary(s).withCache(old));
            Files.writeString(old, "{\"key\":\"" + c.cacheKey("sys", "q") + "\",\"content\":\"echo " + CANARY + " [[3]]\"}\n");
            ChatClient.Reply r = client(s, canary(s).withCache(old)).complete("sys", "q");
            assertTrue(r.cached());
            assertEquals("echo *** [[3]]", r.content());
        }
    }

    @Test
    void redactRemovesTheKeyAndEveryLongPieceOfIt() {
        String k = "abcdefghijklmnop";
        assertEquals("x *** y", Secrets.redact("x " + k + " y", k));
        assertEquals("Bearer ***", Secrets.redact("Bearer " + k, k));
        assertEquals("***...", Secrets.redact("abcdefgh...", k), "a prefix of 8");
        assertEquals("...***", Secrets.redact("...ijklmnop", k), "a suffix of 8");
        assertEquals("-***-", Secrets.redact("-cdefghijk-", k), "a piece in the middle");
        assertEquals("abcdefg hijklmn", Secrets.redact("abcdefg hijklmn", k), "runs of 7 stay");
        assertEquals("******", Secrets.redact(k + k, k));
        assertEquals("text", Secrets.redact("text", null));
        assertEquals("a *** b", Secrets.redact("a xyz b", "xyz"), "a key shorter than 8 is removed whole");
    }

    /** The plain definition of {@link Secrets#redact}: at each position, the longest run (≥ 8) of the key found there. */
    static String naiveRedact(String text, String key) {
        int piece = Math.min(Secrets.MIN_PIECE, key.length());
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < text.length()) {
            int longest = 0;
            for (int j = 0; j < key.length(); j++) {
                int n = 0;
                while (i + n < text.length() && j + n < key.length() && text.charAt(i + n) == key.charAt(j + n)) {
                    n++;
                }
                longest = Math.max(longest, n);
            }
            if (longest >= piece) {
                out.append(Secrets.MASK);
                i += longest;
            } else {
                out.append(text.charAt(i++));
            }
        }
        return out.toString();
    }

    @Test
    void redactEqualsItsPlainDefinitionOnRandomTexts() {
        Random r = new Random(17);
        int masked = 0;
        for (int t = 0; t < 400; t++) {
            String alphabet = t % 2 == 0 ? "ab" : "abc-";
            StringBuilder k = new StringBuilder();
            for (int n = 3 + r.nextInt(20); n > 0; n--) {
                k.append(alphabet.charAt(r.nextInt(alphabet.length())));
            }
            StringBuilder x = new StringBuilder();
            for (int n = r.nextInt(120); n > 0; n--) {
                if (r.nextInt(10) == 0) {
                    int from = r.nextInt(k.length());
                    x.append(k, from, from + r.nextInt(k.length() - from + 1)); // a piece of the key
                } else {
                    x.append(alphabet.charAt(r.nextInt(alphabet.length())));
                }
            }
            String got = Secrets.redact(x.toString(), k.toString());
            assertEquals(naiveRedact(x.toString(), k.toString()), got, "text " + x + ", key " + k);
            masked += got.contains(Secrets.MASK) ? 1 : 0;
        }
        assertTrue(masked > 100, "the texts exercise the masking: " + masked);
    }

    @Test
    void loopbackIsParsedNeverPrefixMatched() {
        for (String h : new String[] {"localhost", "127.0.0.1", "127.1.2.3", "127.255.255.255", "[::1]", "::1",
            "[0:0:0:0:0:0:0:1]"}) {
            assertTrue(Secrets.isLoopback(h), h);
        }
        for (String h : new String[] {"0.0.0.0", "127.attacker.invalid", "127.0.0.1.attacker.invalid", "localhost.attacker.invalid",
            "1270.0.0.1", "127.0.0.256", "127.0.0", "128.0.0.1", "10.0.0.1", "[::]", "[::2]", "[::1%eth0]", "example.com", "",
            "0177.0.0.1"}) {
            assertFalse(Secrets.isLoopback(h), h);
        }
    }

    @Test
    void aKeyOverPlainHttpToAnotherMachineIsRefusedUnlessAllowed() {
        for (String url : new String[] {"http://0.0.0.0:9/v1", "http://127.attacker.invalid/v1", "http://10.1.2.3:8000/v1"}) {
            ChatClient.Options o = ChatClient.Options.of(url, "j").withApiKey("MY_KEY", CANARY);
            Align4jException e = assertThrows(Align4jException.class, () -> new ChatClient(o), url);
            assertTrue(e.getMessage().contains("$MY_KEY") && e.getMessage().contains("--judge-allow-http")
                    && e.getMessage().contains("https://"), e.getMessage());
            assertNoCanary("refusal", e.getMessage());
            ChatClient.Options allowed = o.withPlainHttp(true);
            allowed.checkTransport();
            assertTrue(allowed.plainHttpWarning().startsWith("warning: the API key in $MY_KEY is sent unencrypted"),
                    allowed.plainHttpWarning());
            // without a key, or over https, nothing is refused and nothing warned
            ChatClient.Options.of(url, "j").checkTransport();
            assertEquals(null, ChatClient.Options.of(url, "j").plainHttpWarning());
        }
        for (String url : new String[] {"http://127.0.0.1:9/v1", "http://localhost:9/v1", "http://[::1]:9/v1",
            "https://api.example.com/v1"}) {
            ChatClient.Options o = ChatClient.Options.of(url, "j").withApiKey("MY_KEY", CANARY);
            o.checkTransport();
            assertEquals(null, o.plainHttpWarning(), url);
        }
    }

    @Test
    void emptyAndUnusableRepliesAreReturnedButNeverCached() throws Exception {
        Path cache = dir.resolve("cache.jsonl");
        try (JudgeServer s = new JudgeServer(r -> Action.reply(r.index() < 2 ? "" : r.index() < 4 ? "Rating: [[11]]" : "[[6]]"))) {
            ChatClient c = client(s, opts(s).withCache(cache));
            assertEquals("", c.complete(null, "q").content());
            assertEquals("", c.complete(null, "q").content());
            assertEquals(2, s.requests(), "an empty reply is asked again");
            assertEquals("Rating: [[11]]", c.complete(null, "q", MtBenchJudging::rated).content());
            assertEquals("Rating: [[11]]", c.complete(null, "q", MtBenchJudging::rated).content());
            assertEquals(4, s.requests(), "a rating off the scale is asked again");
            assertFalse(Files.exists(cache) && Files.readString(cache).contains("content"), "nothing unusable is cached");
            assertEquals("[[6]]", c.complete(null, "q", MtBenchJudging::rated).content());
            ChatClient.Reply r = client(s, opts(s).withCache(cache)).complete(null, "q", MtBenchJudging::rated);
            assertTrue(r.cached());
            assertEquals(5, s.requests());
        }
        // an unrated reply cached by an older version is asked again, and the new reply replaces it
        Path old = dir.resolve("old.jsonl");
        try (JudgeServer s = new JudgeServer(r -> Action.reply("[[4]]"))) {
            ChatClient c = client(s, opts(s).withCache(old));
            Files.writeString(old, "{\"key\":\"" + c.cacheKey(null, "q") + "\",\"content\":\"no rating\"}\n");
            assertEquals("[[4]]", client(s, opts(s).withCache(old)).complete(null, "q", MtBenchJudging::rated).content());
            assertEquals(1, s.requests());
            assertTrue(client(s, opts(s).withCache(old)).complete(null, "q", MtBenchJudging::rated).cached());
            assertEquals(1, s.requests());
        }
    }

    @Test
    void theCacheKeyNamesTheServer() throws Exception {
        Path cache = dir.resolve("cache.jsonl");
        try (JudgeServer a = new JudgeServer(r -> Action.reply("[[3]]"));
                JudgeServer b = new JudgeServer(r -> Action.reply("[[9]]"))) {
            assertEquals("[[3]]", client(a, opts(a).withCache(cache)).complete("sys", "q").content());
            // same model name, same prompt, another server: another judge, asked
            ChatClient.Reply r = client(b, opts(b).withCache(cache)).complete("sys", "q");
            assertEquals("[[9]]", r.content());
            assertFalse(r.cached());
            assertEquals(1, b.requests());
            assertTrue(client(a, opts(a).withCache(cache)).complete("sys", "q").cached());
            assertFalse(client(a, opts(a)).cacheKey("sys", "q").equals(client(b, opts(b)).cacheKey("sys", "q")));
        }
    }

    static Action withUsage(String prompt, String completion) {
        return Action.status(200, "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"[[5]]\"}}],"
                + "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + "}}");
    }

    @Test
    void usageThatIsNotACountIsIgnoredAndCountersSaturate() throws Exception {
        String[][] usages = {{"1e308", "7"}, {"1e308", "-5"}, {"99999999999999999999999", "2.5"}, {"\"12\"", "1e400"},
            {"3", "NaN"}};
        try (JudgeServer s = new JudgeServer(r -> withUsage(usages[r.index()][0], usages[r.index()][1]))) {
            ChatClient c = client(s, opts(s).withRetries(0, Duration.ZERO, Duration.ZERO));
            c.complete(null, "a");
            assertEquals(Long.MAX_VALUE, c.usage().promptTokens());
            assertEquals(7, c.usage().completionTokens());
            c.complete(null, "b");
            c.complete(null, "c");
            assertEquals(Long.MAX_VALUE, c.usage().promptTokens(), "saturated, never negative");
            assertEquals(7, c.usage().completionTokens(), "-5 and 2.5 are not token counts");
            c.complete(null, "d");
            assertEquals(7, c.usage().completionTokens(), "a string and 1e400 are not token counts");
            assertThrows(Align4jException.class, () -> c.complete(null, "e"), "NaN is not JSON: not a chat completion");
        }
        assertEquals(12, ChatClient.tokens(JudgeServer.JSON.readTree("12")));
        assertEquals(12, ChatClient.tokens(JudgeServer.JSON.readTree("12.0")));
        assertEquals(0, ChatClient.tokens(JudgeServer.JSON.readTree("-1")));
        assertEquals(0, ChatClient.tokens(JudgeServer.JSON.readTree("true")));
        java.util.concurrent.atomic.AtomicLong n = new java.util.concurrent.atomic.AtomicLong(Long.MAX_VALUE - 1);
        ChatClient.addSaturating(n, 5);
        assertEquals(Long.MAX_VALUE, n.get());
    }

    @Test
    void controlCharactersOfAnErrorBodyAreEscaped() throws Exception {
        String body = "{\"error\":\"bad \u001b[31mred\u001b]0;title\u0007 and \u009b2J\"}";
        for (int status : new int[] {401, 404, 400, 503}) {
            try (JudgeServer s = new JudgeServer(r -> Action.status(status, body))) {
                Align4jException e = assertThrows(Align4jException.class,
                        () -> client(s, opts(s).withRetries(0, Duration.ZERO, Duration.ZERO)).complete(null, "q"));
                String m = e.getMessage();
                assertTrue(m.contains("bad \\u001b[31mred\\u001b]0;title\\u0007 and \\u009b2J"), m);
                assertFalse(m.chars().anyMatch(ch -> ch == 0x1b || ch == 0x07 || ch == 0x9b), m);
            }
        }
    }

    /** --judge-cache naming a file that is not a judge cache (a shell profile, a data file) is refused, never appended to. */
    @Test
    void aFileThatIsNotAJudgeCacheIsRefusedAndLeftAsItWas() throws Exception {
        Path profile = dir.resolve(".bashrc");
        String before = "export PATH=/usr/bin\nalias ll='ls -l'\n";
        Files.writeString(profile, before, StandardCharsets.UTF_8);
        try (JudgeServer s = new JudgeServer(r -> Action.reply("[[5]]"))) {
            io.github.align4j.Align4jException e = org.junit.jupiter.api.Assertions.assertThrows(
                    io.github.align4j.Align4jException.class, () -> client(s, opts(s).withCache(profile)).complete(null, "a"));
            assertTrue(e.getMessage().contains("not an align4j judge cache"), e.getMessage());
            assertEquals(0, s.requests());
        }
        assertEquals(before, Files.readString(profile, StandardCharsets.UTF_8));
    }

    @Test
    void credentialsInTheJudgeUrlNeverReachAMessage() {
        assertEquals("https://judge.example/v1/chat/completions",
                ChatClient.withoutUserInfo("https://alice:s3cret@judge.example/v1/chat/completions"));
        assertEquals("http://127.0.0.1:8080/x", ChatClient.withoutUserInfo("http://127.0.0.1:8080/x"));
        ChatClient.Options o = ChatClient.Options.of("https://alice:s3cret@judge.example/v1", "m");
        assertFalse(o.shownEndpoint().contains("s3cret") || o.toString().contains("s3cret"), o.toString());
    }
}
