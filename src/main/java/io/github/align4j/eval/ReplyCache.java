package io.github.align4j.eval;

import io.github.align4j.eval.ChatClient.Options;
import io.github.align4j.eval.ChatClient.Reply;
import java.util.function.Predicate;

/**
 * The reply cache of {@link ChatClient}: a {@link JudgeCache} file (none when the options name
 * none) keyed by (server, model, prompt). A hit has the key removed again (a file written by an
 * older version may hold it) and counts only when it is still usable; only usable replies are put.
 */
final class ReplyCache {
    private final Options o;
    private final JudgeCache file;

    ReplyCache(Options options) {
        this.o = options;
        this.file = options.cacheFile() == null ? null : JudgeCache.open(options.cacheFile());
    }

    /** The cache key of a prompt: the server (endpoint), the judge model and both messages. */
    String key(String system, String user) {
        return JudgeCache.key(o.endpoint().toString(), o.model(), system == null ? "" : system, user);
    }

    /** The cached reply under {@code key} when there is one and it is {@code ok}, else null. */
    Reply get(String key, Predicate<String> ok) {
        if (file == null) {
            return null;
        }
        JudgeCache.Entry e = file.get(key);
        if (e != null) {
            String content = Secrets.redact(e.content(), o.apiKey()); // a cache written by an older version
            if (ok.test(content)) {
                return new Reply(content, e.promptTokens(), e.completionTokens(), true);
            }
        }
        return null;
    }

    /** Keeps {@code r} under {@code key} when it is {@code ok}. */
    void put(String key, Reply r, Predicate<String> ok) {
        if (file != null && ok.test(r.content())) {
            file.put(key, o.model(), new JudgeCache.Entry(r.content(), r.promptTokens(), r.completionTokens()));
        }
    }

    /** Lines of the cache file that could not be read and were ignored. */
    int unreadable() {
        return file == null ? 0 : file.unreadable();
    }
}
