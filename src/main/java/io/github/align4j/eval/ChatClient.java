package io.github.align4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.Align4jException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;

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
 * on disk (see {@link JudgeCache}) keyed by (server, model, prompt), so a rerun never asks twice;
 * empty replies (and, for judges, replies without a valid rating) are not cached.
 * HTTP 429, 5xx, timeouts and broken connections are retried with exponential backoff and jitter
 * (a {@code Retry-After} or {@code retry-after-ms} header is honoured, up to 10 minutes); 401/403
 * and 404 fail at once with a message naming the URL and the model. The API key is sent only in
 * the {@code Authorization} header, over plain http only to this machine unless allowed (see
 * {@link Options#checkTransport}), and is never part of a message, a log line or a file: it (and
 * any run of 8 or more of its characters) is removed from a server's text before that text is
 * cut, cached or returned. Text from the server in messages has its control characters escaped.
 */
public final class ChatClient {
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
     * @param allowPlainHttp send the key over plain {@code http://} to a host that is not this
     *     machine (refused otherwise, see {@link #checkTransport})
     */
    public record Options(String url, String model, String apiKeyEnv, String apiKey, int maxTokens, int concurrency,
            Duration timeout, int maxRetries, Duration backoffBase, Duration backoffMax, Path cacheFile,
            boolean allowPlainHttp) {
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
                    Duration.ofSeconds(60), null, false);
        }

        public Options withApiKey(String env, String key) {
            return new Options(url, model, env, key, maxTokens, concurrency, timeout, maxRetries, backoffBase, backoffMax,
                    cacheFile, allowPlainHttp);
        }

        public Options withMaxTokens(int n) {
            return new Options(url, model, apiKeyEnv, apiKey, n, concurrency, timeout, maxRetries, backoffBase, backoffMax,
                    cacheFile, allowPlainHttp);
        }

        public Options withConcurrency(int n) {
            return new Options(url, model, apiKeyEnv, apiKey, maxTokens, n, timeout, maxRetries, backoffBase, backoffMax,
                    cacheFile, allowPlainHttp);
        }

        public Options withTimeout(Duration t) {
            return new Options(url, model, apiKeyEnv, apiKey, maxTokens, concurrency, t, maxRetries, backoffBase, backoffMax,
                    cacheFile, allowPlainHttp);
        }

        public Options withRetries(int n, Duration base, Duration max) {
            return new Options(url, model, apiKeyEnv, apiKey, maxTokens, concurrency, timeout, n, base, max,
                    cacheFile, allowPlainHttp);
        }

        public Options withCache(Path file) {
            return new Options(url, model, apiKeyEnv, apiKey, maxTokens, concurrency, timeout, maxRetries, backoffBase, backoffMax,
                    file, allowPlainHttp);
        }

        /** Allows (true) sending the key over plain http to another machine; see {@link #checkTransport}. */
        public Options withPlainHttp(boolean allow) {
            return new Options(url, model, apiKeyEnv, apiKey, maxTokens, concurrency, timeout, maxRetries, backoffBase, backoffMax,
                    cacheFile, allow);
        }

        /**
         * Whether the key would travel unencrypted to another machine: a key is set, the URL is
         * {@code http://} and its host is not this machine (exactly {@code localhost}, an IPv4
         * literal in 127.0.0.0/8 or {@code ::1}; names are never resolved, so {@code 0.0.0.0} and
         * {@code 127.example.com} are other machines).
         */
        public boolean keyOverPlainHttp() {
            URI e = endpoint();
            return apiKey != null && "http".equalsIgnoreCase(e.getScheme()) && !Secrets.isLoopback(e.getHost());
        }

        /**
         * Refuses a key over plain http to another machine unless {@link #allowPlainHttp}: throws an
         * {@link Align4jException} that says how to fix it. {@link ChatClient}'s constructor calls it;
         * callers that do long work before asking the judge call it first.
         */
        public void checkTransport() {
            if (keyOverPlainHttp() && !allowPlainHttp) {
                throw new Align4jException("judge URL " + shownEndpoint() + ": the API key " + keySource() + " would be sent "
                        + "unencrypted (http://) to " + endpoint().getHost() + ", which is not this machine. Use https://, "
                        + "or allow plain http explicitly (--judge-allow-http; in a sweep file, judge_allow_http: true)");
            }
        }

        /** The line to show a user whose key goes over plain http to another machine (allowed), or null. */
        public String plainHttpWarning() {
            return keyOverPlainHttp() ? "warning: the API key " + keySource() + " is sent unencrypted (http://) to "
                    + endpoint().getHost() + "; anyone on the network between can read it. Use https:// for a judge on "
                    + "another machine" : null;
        }

        private String keySource() {
            return apiKeyEnv == null ? "(given by the caller)" : "in $" + apiKeyEnv;
        }

        /** The endpoint as messages show it: without {@code user:password@}, which is a secret as the key is. */
        public String shownEndpoint() {
            return withoutUserInfo(endpoint().toString());
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
            return "ChatClient.Options[url=" + withoutUserInfo(url) + ", model=" + model + ", apiKey=" + (apiKey == null ? "none"
                    : "(from " + (apiKeyEnv == null ? "the caller" : "$" + apiKeyEnv) + ")") + ", maxTokens=" + maxTokens
                    + ", concurrency=" + concurrency + ", timeout=" + timeout + ", maxRetries=" + maxRetries + ", cache="
                    + cacheFile + (allowPlainHttp ? ", allowPlainHttp" : "") + "]";
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
    private final ReplyCache cache;
    private final ChatTransport transport;
    private final AtomicLong answered = new AtomicLong();
    private final AtomicLong cachedHits = new AtomicLong();
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong completionTokens = new AtomicLong();

    public ChatClient(Options options) {
        this(options, Thread::sleep, new Random());
    }

    ChatClient(Options options, Sleeper sleeper, Random jitter) {
        options.checkTransport();
        this.o = options;
        this.cache = new ReplyCache(options);
        this.transport = new ChatTransport(options, sleeper, jitter);
    }

    public Options options() {
        return o;
    }

    public Usage usage() {
        return new Usage(transport.requests.get(), answered.get(), cachedHits.get(), transport.retries.get(),
                promptTokens.get(), completionTokens.get());
    }

    /** Lines of the cache file that could not be read (torn by a killed run) and were ignored. */
    public int unreadableCacheLines() {
        return cache.unreadable();
    }


    /**
     * The judge's reply to one prompt, from the cache when it was asked before. An empty reply is
     * returned but not cached, so the next run asks again.
     */
    public Reply complete(String system, String user) {
        return complete(system, user, NOT_BLANK);
    }

    /** Replies worth keeping: not empty. */
    static final Predicate<String> NOT_BLANK = s -> s != null && !s.isBlank();

    /**
     * The judge's reply to one prompt. Only a reply that is {@code usable} (for a judge: it holds a
     * valid rating or verdict) is cached, and a cached one that is not usable is asked again; an
     * unusable reply is still returned (scored as unrated by the caller). The key is removed from
     * the reply before it is cached or returned.
     */
    Reply complete(String system, String user, Predicate<String> usable) {
        Predicate<String> ok = s -> NOT_BLANK.test(s) && usable.test(s);
        String key = cacheKey(system, user);
        Reply hit = cache.get(key, ok);
        if (hit != null) {
            cachedHits.incrementAndGet();
            return hit;
        }
        Reply r = transport.send(system, user);
        answered.incrementAndGet();
        addSaturating(promptTokens, r.promptTokens());
        addSaturating(completionTokens, r.completionTokens());
        cache.put(key, r, ok);
        return r;
    }

    /** The cache key of a prompt: the server (endpoint), the judge model and both messages. */
    String cacheKey(String system, String user) {
        return cache.key(system, user);
    }

    /** Adds a non-negative amount, stopping at Long.MAX_VALUE instead of wrapping to a negative count. */
    static void addSaturating(AtomicLong counter, long amount) {
        if (amount > 0) {
            counter.accumulateAndGet(amount, (a, b) -> a > Long.MAX_VALUE - b ? Long.MAX_VALUE : a + b);
        }
    }

    /**
     * Replies to many prompts, in order, at most {@code concurrency} requests at once. Every reply
     * is cached as it arrives, so when one prompt fails for good the others already answered are
     * kept for the next run.
     */
    public List<Reply> completeAll(List<Prompt> prompts) {
        return completeAll(prompts, NOT_BLANK);
    }

    /** {@link #completeAll(List)}, caching only replies that are {@code usable} (see {@link #complete(String, String, Predicate)}). */
    List<Reply> completeAll(List<Prompt> prompts, Predicate<String> usable) {
        List<Reply> out = new ArrayList<>(prompts.size());
        int threads = Math.min(o.concurrency(), Math.max(1, prompts.size()));
        if (threads == 1) {
            prompts.forEach(p -> out.add(complete(p.system(), p.user(), usable)));
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
                fs.add(pool.submit(() -> complete(p.system(), p.user(), usable)));
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
            throw new Align4jException("interrupted while waiting for the judge at " + o.shownEndpoint(), e);
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * A token count from a server's {@code usage}: a non-negative whole number (at most
     * Long.MAX_VALUE); anything else (negative, fractional, not finite, not a number) counts 0.
     */
    static long tokens(JsonNode n) {
        if (n == null || !n.isNumber()) {
            return 0;
        }
        if (n.isIntegralNumber()) {
            java.math.BigInteger b = n.bigIntegerValue();
            return b.signum() < 0 ? 0 : b.bitLength() < 64 ? b.longValue() : Long.MAX_VALUE;
        }
        double d = n.doubleValue();
        if (!Double.isFinite(d) || d < 0 || d != Math.rint(d)) {
            return 0;
        }
        return d >= 0x1p63 ? Long.MAX_VALUE : (long) d;
    }

    /** {@code url} with any {@code user:password@} before the host removed (credentials never reach a message). */
    static String withoutUserInfo(String url) {
        return url == null ? null : url.replaceFirst("^([A-Za-z][A-Za-z0-9+.-]*://)[^/@?#]*@", "$1");
    }
}
