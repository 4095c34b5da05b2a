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
}
