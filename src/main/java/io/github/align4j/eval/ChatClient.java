package io.github.align4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A client of the OpenAI chat-completions protocol ({@code POST {url}/chat/completions}), as
 * OpenAI, vLLM, TGI, llama.cpp's server and Ollama serve it, for LLM judges.
 *
 * <pre>{@code
 * ChatClient c = new ChatClient(ChatClient.Options.of("http://localhost:8000/v1", "judge")
 *         .withApiKey("OPENAI_API_KEY", System.getenv("OPENAI_API_KEY"))
 *         .withCache(Path.of("out/judge_cache.jsonl")));
 * ChatClient.Reply r = c.complete("You are a helpful assistant.", "Rate this ...");
 * }</pre>
 *
 * <p>Every request asks for temperature 0 and at most {@code maxTokens} tokens. Replies are cached
 * on disk (see {@link JudgeCache}) keyed by (model, prompt), so a rerun never asks twice.
 * HTTP 429, 5xx, timeouts and broken connections are retried with exponential backoff and jitter
 * (a {@code Retry-After} or {@code retry-after-ms} header is honoured, up to 10 minutes); 401/403
 * and 404 fail at once with a message naming the URL and the model. The API key is sent only in
 * the {@code Authorization} header and is never part of a message, a log line or a file.
 */
public final class ChatClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Replies larger than this are refused (a judgment is a few kB). */
    static final int MAX_BODY = 8 << 20;
    static final long MAX_RETRY_AFTER_MS = 600_000;

    /**
     * Where and how to ask.
     *
     * @param url the server's base URL, e.g. {@code https://api.openai.com/v1} or
     *     {@code http://localhost:8000/v1}; a URL ending in {@code /chat/completions} is used as is
     * @param model the judge model's name on that server
     * @param apiKeyEnv the environment variable the key came from (named in messages only); may be null
     * @param apiKey the key, sent as {@code Authorization: Bearer}; null sends none
     * @param maxTokens the judge's max_tokens
     * @param concurrency requests in flight at once in {@link #completeAll}
     * @param timeout for one request (connect, send, whole reply)
     * @param maxRetries retries after the first attempt
     * @param backoffBase the first retry's delay; it doubles each retry (with jitter)
     * @param backoffMax the longest backoff delay
     * @param cacheFile the reply cache (JSONL); null keeps none
     */
    public record Options(String url, String model, String apiKeyEnv, String apiKey, int maxTokens, int concurrency,
            Duration timeout, int maxRetries, Duration backoffBase, Duration backoffMax, Path cacheFile) {
        public Options {
            if (url == null || url.isBlank()) {
                throw new Align4jException("the judge needs a server URL (--judge-url), e.g. http://localhost:8000/v1");
            }
            URI u;
            try {
                u = URI.create(url.strip());
            } catch (IllegalArgumentException e) {
                throw new Align4jException("judge URL '" + url + "': not a valid URL (" + e.getMessage() + ")");
            }
            if (u.getScheme() == null || !(u.getScheme().equals("http") || u.getScheme().equals("https")) || u.getHost() == null) {
                throw new Align4jException("judge URL '" + url + "': expected http://HOST[:PORT]/v1 or https://HOST/v1");
            }
            if (model == null || model.isBlank()) {
                throw new Align4jException("the judge needs a model name (--judge-model), e.g. gpt-4");
            }
            if (maxTokens < 1 || concurrency < 1 || maxRetries < 0) {
                throw new Align4jException("judge max tokens and concurrency must be ≥ 1 and retries ≥ 0; got " + maxTokens
                        + ", " + concurrency + ", " + maxRetries);
            }
            if (timeout == null || timeout.isNegative() || timeout.isZero() || backoffBase == null || backoffBase.isNegative()
                    || backoffMax == null || backoffMax.isNegative()) {
                throw new Align4jException("judge timeout must be > 0 and backoff delays ≥ 0");
            }
            if (apiKey != null && apiKey.isEmpty()) {
                apiKey = null;
            }
        }

        /** Defaults: no key, max_tokens 2048 (FastChat's), 8 requests at once, 120 s timeout, 8 retries from 1 s to 60 s, no cache. */
        public static Options of(String url, String model) {
            return new Options(url, model, null, null, 2048, 8, Duration.ofSeconds(120), 8, Duration.ofSeconds(1),
                    Duration.ofSeconds(60), null);
        }

        public Options withApiKey(String env, String key) {
            return new Options(url, model, env, key, maxTokens, concurrency, timeout, maxRetries, backoffBase, backoffMax, cacheFile);
        }

        public Options withMaxTokens(int n) {
            return new Options(url, model, apiKeyEnv, apiKey, n, concurrency, timeout, maxRetries, backoffBase, backoffMax, cacheFile);
        }

        public Options withConcurrency(int n) {
            return new Options(url, model, apiKeyEnv, apiKey, maxTokens, n, timeout, maxRetries, backoffBase, backoffMax, cacheFile);
        }

        public Options withTimeout(Duration t) {
            return new Options(url, model, apiKeyEnv, apiKey, maxTokens, concurrency, t, maxRetries, backoffBase, backoffMax, cacheFile);
        }

        public Options withRetries(int n, Duration base, Duration max) {
            return new Options(url, model, apiKeyEnv, apiKey, maxTokens, concurrency, timeout, n, base, max, cacheFile);
        }

        public Options withCache(Path file) {
            return new Options(url, model, apiKeyEnv, apiKey, maxTokens, concurrency, timeout, maxRetries, backoffBase, backoffMax, file);
        }

        /** The endpoint the requests go to. */
        public URI endpoint() {
            String u = url.strip();
            while (u.endsWith("/")) {
                u = u.substring(0, u.length() - 1);
            }
            return URI.create(u.endsWith("/chat/completions") ? u : u + "/chat/completions");
        }

        /** Never shows the key. */
        @Override
        public String toString() {
            return "ChatClient.Options[url=" + url + ", model=" + model + ", apiKey=" + (apiKey == null ? "none"
                    : "(from " + (apiKeyEnv == null ? "the caller" : "$" + apiKeyEnv) + ")") + ", maxTokens=" + maxTokens
                    + ", concurrency=" + concurrency + ", timeout=" + timeout + ", maxRetries=" + maxRetries + ", cache="
                    + cacheFile + "]";
        }
    }

    /** One prompt: a system message (may be null) and a user message. */
    public record Prompt(String system, String user) {}

    /** A reply's text and the tokens the server counted; {@code cached} when it came from the cache. */
    public record Reply(String content, long promptTokens, long completionTokens, boolean cached) {}

    /**
     * What a client has done so far.
     *
     * @param requests HTTP requests sent, retries included
     * @param answered prompts answered by the server
     * @param cached prompts answered from the cache
     * @param retries retried attempts
     * @param promptTokens prompt tokens the server counted (answered prompts only)
     * @param completionTokens completion tokens the server counted
     */
    public record Usage(long requests, long answered, long cached, long retries, long promptTokens, long completionTokens) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%d judge calls (%d from the cache, %d HTTP requests, %d retries), "
                    + "%d prompt + %d completion tokens", answered + cached, cached, requests, retries, promptTokens,
                    completionTokens);
        }
    }

    /** How the client waits between attempts (tests record instead of sleeping). */
    interface Sleeper {
        void sleep(long millis) throws InterruptedException;
    }

    private final Options o;
    private final HttpClient http;
    private final JudgeCache cache;
    private final Sleeper sleeper;
    private final Random jitter;
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong answered = new AtomicLong();
    private final AtomicLong cachedHits = new AtomicLong();
    private final AtomicLong retries = new AtomicLong();
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong completionTokens = new AtomicLong();

    public ChatClient(Options options) {
        this(options, Thread::sleep, new Random());
    }

    ChatClient(Options options, Sleeper sleeper, Random jitter) {
        this.o = options;
        this.sleeper = sleeper;
        this.jitter = jitter;
        this.cache = options.cacheFile() == null ? null : JudgeCache.open(options.cacheFile());
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(options.timeout())
                .followRedirects(HttpClient.Redirect.NEVER).build();
    }

    public Options options() {
        return o;
    }

    public Usage usage() {
        return new Usage(requests.get(), answered.get(), cachedHits.get(), retries.get(), promptTokens.get(),
                completionTokens.get());
    }

    /** Lines of the cache file that could not be read (torn by a killed run) and were ignored. */
    public int unreadableCacheLines() {
        return cache == null ? 0 : cache.unreadable();
    }

    /** The judge's reply to one prompt, from the cache when it was asked before. */
    public Reply complete(String system, String user) {
        String key = JudgeCache.key(o.model(), system, user);
        if (cache != null) {
            JudgeCache.Entry e = cache.get(key);
            if (e != null) {
                cachedHits.incrementAndGet();
                return new Reply(e.content(), e.promptTokens(), e.completionTokens(), true);
            }
        }
        Reply r = send(system, user);
        answered.incrementAndGet();
        promptTokens.addAndGet(r.promptTokens());
        completionTokens.addAndGet(r.completionTokens());
        if (cache != null) {
            cache.put(key, o.model(), new JudgeCache.Entry(r.content(), r.promptTokens(), r.completionTokens()));
        }
        return r;
    }

    /**
     * Replies to many prompts, in order, at most {@code concurrency} requests at once. Every reply
     * is cached as it arrives, so when one prompt fails for good the others already answered are
     * kept for the next run.
     */
    public List<Reply> completeAll(List<Prompt> prompts) {
        List<Reply> out = new ArrayList<>(prompts.size());
        int threads = Math.min(o.concurrency(), Math.max(1, prompts.size()));
        if (threads == 1) {
            prompts.forEach(p -> out.add(complete(p.system(), p.user())));
            return out;
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "align4j-judge");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<Reply>> fs = new ArrayList<>(prompts.size());
            for (Prompt p : prompts) {
                fs.add(pool.submit(() -> complete(p.system(), p.user())));
            }
            for (Future<Reply> f : fs) {
                try {
                    out.add(f.get());
                } catch (ExecutionException e) {
                    fs.forEach(x -> x.cancel(true));
                    Throwable c = e.getCause();
                    if (c instanceof RuntimeException re) {
                        throw re;
                    }
                    throw new IllegalStateException(c);
                }
            }
            return out;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Align4jException("interrupted while waiting for the judge at " + o.endpoint(), e);
        } finally {
            pool.shutdownNow();
        }
    }

    private String who() {
        return o.endpoint() + " (model '" + o.model() + "')";
    }

    private Reply send(String system, String user) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", o.model());
        ArrayNode msgs = body.putArray("messages");
        if (system != null && !system.isEmpty()) {
            msgs.addObject().put("role", "system").put("content", system);
        }
        msgs.addObject().put("role", "user").put("content", user);
        body.put("temperature", 0);
        body.put("max_tokens", o.maxTokens());
        HttpRequest.Builder b = HttpRequest.newBuilder(o.endpoint()).timeout(o.timeout())
                .header("Content-Type", "application/json").header("Accept", "application/json");
        if (o.apiKey() != null) {
            b.header("Authorization", "Bearer " + o.apiKey());
        }
        HttpRequest req;
        try {
            req = b.POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body), StandardCharsets.UTF_8)).build();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        String last = null;
        for (int attempt = 0;; attempt++) {
            long retryAfter = -1;
            requests.incrementAndGet();
            CompletableFuture<HttpResponse<byte[]>> f = http.sendAsync(req, info -> new Capped());
            try {
                HttpResponse<byte[]> r = f.get(o.timeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
                int status = r.statusCode();
                String text = new String(r.body(), StandardCharsets.UTF_8);
                if (status == 200) {
                    Reply parsed = parse(text);
                    if (parsed != null) {
                        return parsed;
                    }
                    last = "HTTP 200 with a reply that is not a chat completion: " + excerpt(text);
                } else if (status == 401 || status == 403) {
                    throw new Align4jException(who() + " refused the request (HTTP " + status + "): "
                            + (o.apiKey() == null ? "no API key was sent; set one with --judge-api-key-env VAR"
                                    : "check the API key in $" + (o.apiKeyEnv() == null ? "(the caller's key)" : o.apiKeyEnv()))
                            + ". Server said: " + excerpt(text));
                } else if (status == 404) {
                    throw new Align4jException(who() + ": HTTP 404. Check --judge-url (the base URL, usually ending in /v1) "
                            + "and --judge-model (the name the server serves). Server said: " + excerpt(text));
                } else if (status == 429 || status >= 500) {
                    last = "HTTP " + status + ": " + excerpt(text);
                    retryAfter = retryAfterMillis(r.headers());
                } else {
                    throw new Align4jException(who() + ": HTTP " + status + ". Server said: " + excerpt(text));
                }
            } catch (ExecutionException e) {
                Throwable c = e.getCause() == null ? e : e.getCause();
                if (c instanceof TooLarge || c.getCause() instanceof TooLarge) {
                    throw new Align4jException(who() + ": the reply is larger than " + (MAX_BODY >> 20) + " MiB; not a judgment");
                }
                last = c instanceof java.net.ConnectException ? "cannot connect (is the server up, and is the URL right?)"
                        : c.getClass().getSimpleName() + (c.getMessage() == null ? "" : ": " + c.getMessage());
            } catch (TimeoutException e) {
                f.cancel(true);
                last = "no reply within " + o.timeout().toMillis() + " ms";
            } catch (InterruptedException e) {
                f.cancel(true);
                Thread.currentThread().interrupt();
                throw new Align4jException("interrupted while waiting for " + who(), e);
            }
            if (attempt >= o.maxRetries()) {
                throw new Align4jException(who() + ": gave up after " + (attempt + 1) + " attempts; last error: " + scrub(last)
                        + ". Check that the server is up, or rerun later: replies received so far are cached.");
            }
            retries.incrementAndGet();
            try {
                sleeper.sleep(delayMillis(attempt, retryAfter));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Align4jException("interrupted while waiting to retry " + who(), e);
            }
        }
    }

    /** Backoff before retry attempt+1: base·2^attempt capped at max, half of it jittered; at least Retry-After. */
    long delayMillis(int attempt, long retryAfterMillis) {
        double exp = o.backoffBase().toMillis() * Math.pow(2, Math.min(attempt, 30));
        long cap = Math.min((long) Math.min(exp, Long.MAX_VALUE / 4), o.backoffMax().toMillis());
        long d;
        synchronized (jitter) {
            d = cap / 2 + (cap > 1 ? (long) (jitter.nextDouble() * (cap - cap / 2)) : cap);
        }
        return retryAfterMillis > 0 ? Math.max(d, Math.min(retryAfterMillis, MAX_RETRY_AFTER_MS)) : d;
    }

    /** {@code retry-after-ms}, or {@code Retry-After} in seconds or as an HTTP date; -1 when absent. */
    static long retryAfterMillis(java.net.http.HttpHeaders h) {
        try {
            var ms = h.firstValue("retry-after-ms");
            if (ms.isPresent()) {
                return (long) Double.parseDouble(ms.get().strip());
            }
            var s = h.firstValue("retry-after");
            if (s.isEmpty()) {
                return -1;
            }
            String v = s.get().strip();
            if (v.matches("\\d+(\\.\\d+)?")) {
                return (long) (Double.parseDouble(v) * 1000);
            }
            long when = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant().toEpochMilli();
            return Math.max(0, when - System.currentTimeMillis());
        } catch (RuntimeException e) {
            return -1; // unreadable: use the backoff
        }
    }

    /** The first choice's message and the usage of a chat completion, or null when the text is not one. */
    static Reply parse(String text) {
        try {
            JsonNode n = JSON.readTree(text);
            JsonNode content = n == null ? null : n.path("choices").path(0).path("message").path("content");
            if (content == null || !content.isTextual()) {
                return null;
            }
            JsonNode u = n.path("usage");
            return new Reply(content.asText(), u.path("prompt_tokens").asLong(0), u.path("completion_tokens").asLong(0), false);
        } catch (IOException e) {
            return null;
        }
    }

    private String excerpt(String text) {
        String t = text == null ? "" : text.strip().replaceAll("\\s+", " ");
        return scrub(t.length() > 300 ? t.substring(0, 300) + "..." : t.isEmpty() ? "(empty reply)" : t);
    }

    /** Removes the key from text a server sent back (some echo it in errors). */
    private String scrub(String s) {
        if (s == null || o.apiKey() == null) {
            return s;
        }
        return s.replace(o.apiKey(), "***");
    }

    private static final class TooLarge extends IOException {
        TooLarge() {
            super("reply too large");
        }
    }

    /** Collects a body up to {@link #MAX_BODY} bytes. */
    private static final class Capped implements HttpResponse.BodySubscriber<byte[]> {
        private final CompletableFuture<byte[]> result = new CompletableFuture<>();
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
        private Flow.Subscription sub;

        @Override
        public CompletionStage<byte[]> getBody() {
            return result;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            sub = s;
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(List<ByteBuffer> items) {
            if (result.isDone()) {
                return;
            }
            for (ByteBuffer b : items) {
                if (buf.size() + b.remaining() > MAX_BODY) {
                    sub.cancel();
                    result.completeExceptionally(new TooLarge());
                    return;
                }
                byte[] a = new byte[b.remaining()];
                b.get(a);
                buf.write(a, 0, a.length);
            }
        }

        @Override
        public void onError(Throwable t) {
            result.completeExceptionally(t);
        }

        @Override
        public void onComplete() {
            result.complete(buf.toByteArray());
        }
    }
}
