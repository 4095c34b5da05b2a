package io.github.align4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.align4j.Align4jException;
import io.github.align4j.model.TextTokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.IntStream;

/**
 * The tokenizing pipeline behind {@link PreferenceData#load}: finds the chat template, streams the
 * rows in batches, detects the layout from the first good row, and renders, tokenizes and truncates
 * each row (in parallel within a batch), counting what it drops. {@link PreferenceData} holds the
 * result.
 */
final class TokenizingPipeline {
    private static final int BATCH = 1024;
    private static final int MAX_MESSAGES = 10;

    private final String pathOrGlob;
    private final List<Path> files;
    private final DataOptions o;
    private final TextTokenizer tok;
    private final int eos;
    private final String[] template;
    private final ThreadLocal<ChatTemplate> chat;
    private final Layouts.Columns cols;
    private String layout;
    private final List<RawRow> batch = new ArrayList<>(BATCH);
    final List<Example> examples = new ArrayList<>();
    private long rowsRead;
    private long truncated;
    private final Map<String, Long> dropped = new TreeMap<>();
    private final List<String> badMessages = new ArrayList<>();
    final java.util.concurrent.atomic.AtomicBoolean usedChat = new java.util.concurrent.atomic.AtomicBoolean();

    TokenizingPipeline(String pathOrGlob, List<Path> files, DataOptions o, String format, TextTokenizer tok, int eos,
            String[] template) {
        this.pathOrGlob = pathOrGlob;
        this.files = files;
        this.o = o;
        this.tok = tok;
        this.eos = eos;
        this.template = template;
        this.layout = format;
        this.cols = new Layouts.Columns(o.columns());
        this.chat = template == null ? null
                : ThreadLocal.withInitial(() -> ChatTemplate.of(template[0], tok.specialTokens(), template[1]));
    }

    void run() {
        Sources.read(files, Sources.Limits.of(o), r -> {
            batch.add(r);
            if (batch.size() >= BATCH) {
                flush();
            }
        });
        flush();
        if (layout == null) {
            throw new Align4jException(pathOrGlob + ": the dataset has no rows"
                    + (rowsRead > 0 ? " that could be read (" + rowsRead + " bad rows)" : "") + ".");
        }
        if (examples.isEmpty()) {
            StringBuilder sb = new StringBuilder(pathOrGlob + ": no usable rows: " + rowsRead + " read, dropped "
                    + dropped + ".");
            if (dropped.containsKey("prompt_too_long")) {
                sb.append(" Prompts reach max_length (").append(o.maxLength())
                        .append(" tokens): raise max_length or lower max_prompt_length.");
            }
            if (!badMessages.isEmpty()) {
                sb.append(" First bad row: ").append(badMessages.get(0));
            }
            throw new Align4jException(sb.toString());
        }
    }

    /** The layout, detected or forced; set once {@link #run()} has returned. */
    String layout() {
        return layout;
    }

    DataStats stats() {
        long bad = dropped.getOrDefault("bad_row", 0L);
        return new DataStats(rowsRead, examples.size(), dropped, bad, truncated, badMessages);
    }

    private void flush() {
        if (batch.isEmpty()) {
            return;
        }
        if (layout == null) {
            for (RawRow r : batch) {
                if (r.node() == null) {
                    if (!o.skipBadRows()) {
                        throw badRow(r.at() + ": " + r.error());
                    }
                    continue;
                }
                layout = Layouts.detect(cols.apply(r.node()), cols, r);
                break;
            }
        }
        if (layout != null && template == null && (Layouts.CHAT.contains(layout) || o.applyChatTemplate())) {
            throw noTemplate(batch.get(0));
        }
        RawRow[] rows = batch.toArray(new RawRow[0]);
        batch.clear();
        Outcome[] out = new Outcome[rows.length];
        IntStream.range(0, rows.length).parallel().forEach(i -> out[i] = process(rows[i]));
        for (Outcome oc : out) {
            rowsRead++;
            if (oc.bad() != null) {
                if (!o.skipBadRows()) {
                    throw badRow(oc.bad());
                }
                dropped.merge("bad_row", 1L, Long::sum);
                if (badMessages.size() < MAX_MESSAGES) {
                    badMessages.add(oc.bad());
                }
            } else if (oc.drop() != null) {
                dropped.merge(oc.drop(), 1L, Long::sum);
            } else {
                examples.add(oc.example());
                if (oc.example().text().truncated()) {
                    truncated++;
                }
            }
        }
    }

    private static Align4jException badRow(String message) {
        return new Align4jException(message + ". Fix the row, or skip and count bad rows with --skip-bad-rows "
                + "(DataOptions.withSkipBadRows).");
    }

    private Align4jException noTemplate(RawRow r) {
        String dir = tok.dir() == null ? "the tokenizer" : tok.dir().toString();
        return new Align4jException(r.at() + ": layout '" + layout + "' "
                + (Layouts.CHAT.contains(layout) ? "holds chat messages, which" : "with apply_chat_template")
                + " need a chat template, but the model folder " + dir + " has none (no \"chat_template\" in its "
                + "tokenizer_config.json). Give one with --chat-template FILE (a Jinja template, or a "
                + "tokenizer_config.json that has one).");
    }

    private Outcome process(RawRow r) {
        if (r.node() == null) {
            return new Outcome(null, null, r.at() + ": " + r.error());
        }
        Layouts.Parsed p;
        try {
            p = Layouts.parse(layout, cols.apply(r.node()), cols, r.fromCsv());
        } catch (Layouts.BadRow e) {
            return new Outcome(null, null, r.at() + ", " + e.getMessage());
        }
        boolean useChat = p.chat() || o.applyChatTemplate();
        String promptText;
        String[] comps = new String[p.rejected() == null ? 1 : 2];
        Object[] compSrc = p.rejected() == null ? new Object[] {p.chosen()} : new Object[] {p.chosen(), p.rejected()};
        String[] compField = {p.chosenField(), p.rejectedField()};
        if (useChat) {
            if (chat == null) {
                throw noTemplate(r);
            }
            ChatTemplate t = chat.get();
            usedChat.set(true);
            List<Message> pm = asMessages(p.prompt(), "user");
            if (pm.isEmpty()) {
                return new Outcome(null, null, r.at() + ", field " + cols.show(p.promptField())
                        + ": expected a non-empty list of prompt messages, got an empty list");
            }
            try {
                promptText = t.render(pm, true);
            } catch (RuntimeException e) {
                return new Outcome(null, null, r.at() + ", field " + cols.show(p.promptField())
                        + ": the chat template (" + template[1] + ") rejects the prompt messages: " + e.getMessage());
            }
            for (int i = 0; i < comps.length; i++) {
                List<Message> cm = asMessages(compSrc[i], "assistant");
                if (cm.stream().allMatch(m -> m.content() == null || m.content().isEmpty())) {
                    return new Outcome(null, "empty_completion", null);
                }
                List<Message> all = new ArrayList<>(pm.size() + cm.size());
                all.addAll(pm);
                all.addAll(cm);
                String full;
                try {
                    full = t.render(all, false);
                } catch (RuntimeException e) {
                    return new Outcome(null, null, r.at() + ", field " + cols.show(compField[i])
                            + ": the chat template (" + template[1] + ") rejects the conversation: " + e.getMessage());
                }
                if (!full.startsWith(promptText)) {
                    return new Outcome(null, null, r.at() + ", field " + cols.show(compField[i])
                            + ": expected the rendered prompt (template with add_generation_prompt=true) to be the "
                            + "start of the rendered prompt + completion, but the chat template renders the prompt "
                            + "differently when a completion follows, so the completion cannot be split off; use a "
                            + "template whose generation prompt is a prefix of the assistant turn");
                }
                comps[i] = full.substring(promptText.length());
            }
        } else {
            promptText = (String) p.prompt();
            for (int i = 0; i < comps.length; i++) {
                comps[i] = (String) compSrc[i];
            }
        }
        if (promptText.isEmpty()) {
            return new Outcome(null, null, r.at() + ", field " + cols.show(p.promptField())
                    + ": expected a non-empty prompt, got an empty string");
        }
        int[] pids = tok.encode(promptText);
        int[][] cids = new int[comps.length][];
        for (int i = 0; i < comps.length; i++) {
            int[] ids = tok.encode(comps[i]);
            if (ids.length == 0) {
                return new Outcome(null, "empty_completion", null);
            }
            cids[i] = PreferenceData.withEos(ids, eos);
        }
        Truncation.Result t = Truncation.apply(pids, cids, o.maxLength(), o.maxPromptLength());
        if (t == null) {
            return new Outcome(null, "prompt_too_long", null);
        }
        int[] cuts = t.completionCuts();
        RenderedExample text = new RenderedExample(r.index(), promptText, comps[0], comps.length > 1 ? comps[1] : null,
                p.label(), t.promptCut(), cuts[0], cuts.length > 1 ? cuts[1] : 0, p.meta());
        int[][] c = t.completions();
        return new Outcome(new Example(text, t.prompt(), c[0], c.length > 1 ? c[1] : null), null, null);
    }

    @SuppressWarnings("unchecked")
    private static List<Message> asMessages(Object o, String role) {
        if (o instanceof String s) {
            return List.of(new Message(role, s));
        }
        return (List<Message>) o;
    }

    static String tokenizerConfig(TextTokenizer t) {
        return t.dir() == null ? "tokenizer_config.json" : t.dir().resolve("tokenizer_config.json").toString();
    }

    /** {text, where it came from} or null. */
    static String[] template(DataOptions o, TextTokenizer t) {
        Path f = o.chatTemplateFile();
        if (f != null) {
            String text;
            try {
                text = Files.readString(f, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new Align4jException(f + ": cannot read the chat template file: " + Sources.ioProblem(e), e);
            }
            if (f.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".json")) {
                JsonNode n;
                try {
                    n = Sources.JSON.readTree(text);
                } catch (IOException e) {
                    throw new Align4jException(e instanceof com.fasterxml.jackson.core.JsonProcessingException j
                            ? io.github.align4j.internal.Texts.jsonError(f + ": not valid JSON", j) : f + ": cannot read: " + e.getMessage(), e);
                }
                JsonNode c = n == null ? null : n.get("chat_template");
                if (c != null && c.isArray()) {
                    JsonNode pick = null;
                    for (JsonNode x : c) {
                        if ("default".equals(x.path("name").asText())) {
                            pick = x;
                        }
                    }
                    c = (pick != null ? pick : c.path(0)).get("template");
                }
                if (c == null || !c.isTextual()) {
                    throw new Align4jException(f + ": expected a JSON object with a \"chat_template\" string (like "
                            + "tokenizer_config.json), or give the Jinja template itself in a .jinja file.");
                }
                text = c.asText();
            }
            if (text.isBlank()) {
                throw new Align4jException(f + ": the chat template file is empty.");
            }
            return new String[] {text, f.toString()};
        }
        if (t.chatTemplate() != null) {
            return new String[] {t.chatTemplate(), tokenizerConfig(t)};
        }
        return null;
    }

    /** One row's fate. */
    private record Outcome(Example example, String drop, String bad) {}
}
