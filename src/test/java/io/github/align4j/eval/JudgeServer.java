package io.github.align4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A scripted OpenAI-compatible judge on the loopback address (port chosen by the OS), for tests:
 * each request to {@code /v1/chat/completions} is answered by {@code script}, given the request's
 * number (0-based) and its JSON body.
 */
public final class JudgeServer implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    /** What the server does with one request. */
    public record Action(int status, String body, String retryAfter, long sleepMillis, boolean dropIt) {
        /** A chat completion whose message is {@code content}, with usage 10 + 5 tokens. */
        public static Action reply(String content) {
            ObjectNode n = JSON.createObjectNode();
            n.put("id", "chatcmpl-test");
            n.put("object", "chat.completion");
            n.putArray("choices").addObject().put("index", 0).put("finish_reason", "stop").putObject("message")
                    .put("role", "assistant").put("content", content);
            n.putObject("usage").put("prompt_tokens", 10).put("completion_tokens", 5).put("total_tokens", 15);
            return new Action(200, n.toString(), null, 0, false);
        }

        public static Action status(int status, String body) {
            return new Action(status, body, null, 0, false);
        }

        public static Action drop() {
            return new Action(0, null, null, 0, true);
        }

        public Action withRetryAfter(String v) {
            return new Action(status, body, v, sleepMillis, dropIt);
        }

        public Action after(long millis) {
            return new Action(status, body, retryAfter, millis, dropIt);
        }
    }

    private final HttpServer server;
    private final ExecutorService pool = Executors.newFixedThreadPool(8, r -> {
        Thread t = new Thread(r, "judge-server");
        t.setDaemon(true);
        return t;
    });
    private final AtomicInteger count = new AtomicInteger();
    private final List<JsonNode> bodies = Collections.synchronizedList(new ArrayList<>());
    private final List<String> auth = Collections.synchronizedList(new ArrayList<>());
    private volatile Function<Request, Action> script;

    /** One request as the script sees it. */
    public record Request(int index, JsonNode body) {
        /** The last (user) message. */
        public String user() {
            JsonNode m = body.path("messages");
            return m.path(m.size() - 1).path("content").asText();
        }

        public String system() {
            JsonNode m = body.path("messages");
            return m.size() > 1 ? m.path(0).path("content").asText() : null;
        }
    }

    public JudgeServer(Function<Request, Action> script) throws IOException {
        this.script = script;
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/v1/chat/completions", this::handle);
        server.setExecutor(pool);
        server.start();
    }

    public void script(Function<Request, Action> s) {
        this.script = s;
    }

    /** The base URL, e.g. http://127.0.0.1:PORT/v1. */
    public String url() {
        return "http://" + server.getAddress().getAddress().getHostAddress() + ":" + server.getAddress().getPort() + "/v1";
    }

    public int requests() {
        return count.get();
    }

    public List<JsonNode> bodies() {
        synchronized (bodies) {
            return new ArrayList<>(bodies);
        }
    }

    public List<String> authorizations() {
        synchronized (auth) {
            return new ArrayList<>(auth);
        }
    }

    private void handle(HttpExchange ex) throws IOException {
        int i = count.getAndIncrement();
        JsonNode body = JSON.readTree(ex.getRequestBody().readAllBytes());
        bodies.add(body);
        auth.add(String.valueOf(ex.getRequestHeaders().getFirst("Authorization")));
        Action a = script.apply(new Request(i, body));
        if (a.sleepMillis() > 0) {
            try {
                Thread.sleep(a.sleepMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (a.dropIt()) {
            ex.close(); // no status line: the client sees the connection end
            return;
        }
        byte[] b = a.body() == null ? new byte[0] : a.body().getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        if (a.retryAfter() != null) {
            ex.getResponseHeaders().set("Retry-After", a.retryAfter());
        }
        ex.sendResponseHeaders(a.status(), b.length == 0 ? -1 : b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        pool.shutdownNow();
    }
}
