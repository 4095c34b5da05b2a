package io.github.align4j.data;

import io.github.align4j.Align4jException;
import io.github.align4j.data.template.Jinja2Template;
import io.github.align4j.data.template.TemplateLimits;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A Hugging Face chat template ({@code chat_template} of {@code tokenizer_config.json}), rendered
 * the way transformers' {@code apply_chat_template(..., tokenize=False)} renders it.
 *
 * <p>transformers renders with jinja2 in a sandbox with {@code trim_blocks} and {@code
 * lstrip_blocks}, passing {@code messages} (a list of dicts with {@code role} and {@code content}),
 * {@code add_generation_prompt}, every special token by name ({@code bos_token}, {@code eos_token},
 * ...), the functions {@code raise_exception(msg)} and {@code strftime_now(format)}, and a {@code
 * tojson} filter that is {@code json.dumps(x, ensure_ascii=False)}. This class does the same with
 * jinjava, adding what jinja2 templates rely on and jinjava lacks or does differently: Python's
 * string methods ({@code strip}, {@code lstrip}, {@code rstrip}, {@code title}, {@code upper},
 * {@code lower}, {@code capitalize}, {@code startswith}, {@code endswith}, {@code split}, {@code
 * replace}, {@code join}, {@code find}, {@code format}, ...), Python printing ({@code True}, {@code
 * ['a', 1]}, {@code {'k': 'v'}}), Python truth and {@code +}, jinja2's precedence of {@code not}, the
 * {@code dict()} global, and stopping at {@code raise_exception} or at the first error.
 *
 * <p>The template is parsed once, in {@link #of}; {@link #render} only walks the parsed tree.
 * Instances are immutable and safe to use from several threads at once.
 *
 * <p>Not supported (they fail with an {@link Align4jException} naming the problem rather than
 * rendering something else): the {@code {% generation %}} tag, {@code loop.previtem}, {@code
 * loop.nextitem}, {@code loop.changed}, {@code include}/{@code extends}. Known differences from
 * jinja2, none of which the common templates hit: None prints as the empty string (jinja2 prints
 * {@code None}); an undefined attribute of an undefined value is the empty string (jinja2 fails);
 * tuples are lists ({@code ('a', 'b')} prints as {@code ['a', 'b']}); {@code ~} prints None and
 * booleans as jinjava does ({@code 'a' ~ True} gives {@code atrue}).
 */
public final class ChatTemplate {
    private final String template;
    private final Map<String, String> specialTokens;
    private final String source;
    private final Jinja2Template parsed;

    private ChatTemplate(String template, Map<String, String> specialTokens, String source, Jinja2Template parsed) {
        this.template = template;
        this.specialTokens = specialTokens;
        this.source = source;
        this.parsed = parsed;
    }

    /**
     * The chat template of a tokenizer ({@code chat_template} of its {@code tokenizer_config.json}, or
     * {@code chat_template.jinja}) with its special tokens:
     * {@code ChatTemplate.of(tok).render(List.of(Message.user("Hi")), true)}.
     *
     * @throws Align4jException when the tokenizer has no chat template
     */
    public static ChatTemplate of(io.github.align4j.model.TextTokenizer tokenizer) {
        return of(tokenizer.chatTemplate(), tokenizer.specialTokens(), tokenizer.dir().resolve("tokenizer_config.json").toString());
    }

    /**
     * Parses a chat template.
     *
     * @param template the jinja source
     * @param specialTokens bos_token, eos_token, pad_token, unk_token ... as text (a null value is
     *     passed as None, as transformers does for a tokenizer without that token)
     * @param source where the template came from (e.g. "/path/tokenizer_config.json"), used in
     *     error messages
     * @throws Align4jException if the template does not parse (syntax error, unknown tag)
     */
    public static ChatTemplate of(String template, Map<String, String> specialTokens, String source) {
        return of(template, specialTokens, source, TemplateLimits.defaults());
    }

    /**
     * Parses a chat template whose renders are held to the given limits (output size, string size,
     * loop iterations, nesting and macro depth, render time; see {@link TemplateLimits}).
     *
     * @throws Align4jException if the template does not parse, nests past the limit, or uses {@code
     *     include}, {@code import}, {@code from} or {@code extends}
     */
    public static ChatTemplate of(String template, Map<String, String> specialTokens, String source,
            TemplateLimits limits) {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(limits, "limits");
        if (template == null || template.isBlank()) {
            throw new Align4jException(source + ": chat template is empty; set \"chat_template\" in the"
                    + " tokenizer config or give a template explicitly");
        }
        Map<String, String> tokens = new LinkedHashMap<>();
        if (specialTokens != null) {
            specialTokens.forEach((name, value) -> tokens.put(Objects.requireNonNull(name, "special token name"), value));
        }
        return new ChatTemplate(template, Collections.unmodifiableMap(tokens), source,
                Jinja2Template.parse(template, source, limits));
    }

    /** The template source, as given. */
    public String template() {
        return template;
    }

    /** The special tokens passed to the template by name. */
    public Map<String, String> specialTokens() {
        return specialTokens;
    }

    /** Where the template came from, as given to {@link #of}. */
    public String source() {
        return source;
    }

    /**
     * Renders like transformers' apply_chat_template(tokenize=False).
     *
     * @throws Align4jException {@code "<source>: chat template: <the template's message>"} when the
     *     template calls raise_exception(...) (e.g. for roles that do not alternate), or with the
     *     line and the problem for any other error
     */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /**
     * Same, with extra variables (e.g. "tools", "date_string"). Values may be String, Boolean,
     * Number, null, List and Map (e.g. a tool's JSON schema as parsed by Jackson into maps); lists
     * and maps are copied, read-only, so the template cannot change them. An extra variable
     * replaces a special token of the same name, as template kwargs do in transformers.
     */
    public String render(List<Message> messages, boolean addGenerationPrompt, Map<String, Object> extra) {
        Objects.requireNonNull(messages, "messages");
        List<Map<String, Object>> dicts = new ArrayList<>(messages.size());
        for (Message m : messages) {
            Objects.requireNonNull(m, "message");
            Map<String, Object> dict = new LinkedHashMap<>(4);
            dict.put("role", m.role());
            dict.put("content", m.content());
            dicts.add(Collections.unmodifiableMap(dict));
        }
        return renderWith(Collections.unmodifiableList(dicts), addGenerationPrompt, extra);
    }

    /**
     * Renders messages given as dicts, for messages with more than role and content (an
     * assistant's {@code tool_calls}, a tool's {@code name}, ...).
     */
    public String renderDicts(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt,
            Map<String, ?> extra) {
        Objects.requireNonNull(messages, "messages");
        return renderWith(messages, addGenerationPrompt, extra);
    }

    private String renderWith(Object messages, boolean addGenerationPrompt, Map<String, ?> extra) {
        Map<String, Object> bindings = new LinkedHashMap<>(specialTokens);
        if (extra != null) {
            for (Map.Entry<String, ?> e : extra.entrySet()) {
                if ("messages".equals(e.getKey()) || "add_generation_prompt".equals(e.getKey())) {
                    throw new Align4jException(source + ": chat template: extra variable '" + e.getKey()
                            + "' is set by align4j itself; remove it from the extra template variables");
                }
                bindings.put(e.getKey(), e.getValue());
            }
        }
        bindings.put("messages", messages);
        bindings.put("add_generation_prompt", addGenerationPrompt);
        return parsed.render(bindings);
    }

    @Override
    public String toString() {
        return "ChatTemplate[" + source + "]";
    }
}
