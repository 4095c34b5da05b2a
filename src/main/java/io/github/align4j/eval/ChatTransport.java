package io.github.align4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.eval.ChatClient.Options;
import io.github.align4j.eval.ChatClient.Reply;
import io.github.align4j.eval.ChatClient.Sleeper;
import io.github.align4j.internal.Texts;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One chat-completions request of {@link ChatClient} and its checks: the body is read only up to
 * {@link #MAX_BODY}; 401/403 and 404 fail at once; 429, 5xx, timeouts and broken connections are
 * retried with exponential backoff and jitter, honouring {@code Retry-After} up to
 * {@link #MAX_RETRY_AFTER_MS}; redirects are never followed. Server text reaches a message only
 * with the key removed ({@link Secrets#redact}), cut and made printable.
 */
final class ChatTransport {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Replies larger than this are refused (a judgment is a few kB). */
    static final int MAX_BODY = 8 << 20;
    static final long MAX_RETRY_AFTER_MS = 600_000;

    private final Options o;
    private final HttpClient http;
    private final Sleeper sleeper;
    private final Random jitter;
    /** HTTP requests sent, retries included. */
    final AtomicLong requests = new AtomicLong();
    /** Retried attempts. */
    final AtomicLong retries = new AtomicLong();

    ChatTransport(Options options, Sleeper sleeper, Random jitter) {
        this.o = options;
        this.sleeper = sleeper;
        this.jitter = jitter;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(options.timeout())
                .followRedirects(HttpClient.Redirect.NEVER).build();
    }


    private String who() {
        return o.shownEndpoint() + " (model '" + o.model() + "')";
    }

    /** The server's reply to one prompt, its text with the key removed; retried as the options say. */
    Reply send(String system, String user) {
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
                        return new Reply(Secrets.redact(parsed.content(), o.apiKey()), parsed.promptTokens(),
                                parsed.completionTokens(), false);
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
            return new Reply(content.asText(), ChatClient.tokens(u.path("prompt_tokens")),
                    ChatClient.tokens(u.path("completion_tokens")), false);
        } catch (IOException e) {
            return null;
        }
    }

    /** At most 300 characters of a server's text for a message: the key removed first, then cut, then made printable. */
    String excerpt(String text) {
        String t = text == null ? "" : Secrets.redact(text, o.apiKey()).strip().replaceAll("\\s+", " ");
        if (t.length() > 300) {
            t = t.substring(0, Character.isHighSurrogate(t.charAt(299)) ? 299 : 300) + "...";
        }
        return Texts.printable(t.isEmpty() ? "(empty reply)" : t);
    }

    /** Removes the key from text that may hold what a server sent (some echo it in errors), and escapes control characters. */
    private String scrub(String s) {
        return s == null ? null : Texts.printable(Secrets.redact(s, o.apiKey()));
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
