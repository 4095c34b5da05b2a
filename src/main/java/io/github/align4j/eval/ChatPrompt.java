package io.github.align4j.eval;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import io.github.align4j.Align4jException;
import io.github.align4j.model.TextTokenizer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A one-user-message rendering of a tokenizer's Jinja chat template with the generation prompt,
 * for text generation.
 *
 * <p>TODO(data): replace by {@code io.github.align4j.data.ChatTemplate} once it lands on this
 * branch, so that generation and training render prompts with the same code.
 */
final class ChatPrompt {
    private final String template;
    private final Map<String, String> special;
    private final String source;

    private ChatPrompt(String template, Map<String, String> special, String source) {
        this.template = template;
        this.special = special;
        this.source = source;
    }

    static ChatPrompt of(TextTokenizer t) {
        return new ChatPrompt(t.chatTemplate(), t.specialTokens(),
                (t.dir() == null ? "" : t.dir().resolve("tokenizer_config.json") + ": ") + "chat_template");
    }

    /** raise_exception(msg) of Hugging Face templates: fails the rendering. */
    public static String raise(String message) {
        throw new IllegalArgumentException(message);
    }

    String render(String userMessage) {
        Jinjava j = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).build());
        j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatPrompt.class, "raise",
                String.class));
        Map<String, Object> ctx = new HashMap<>();
        special.forEach(ctx::put);
        ctx.putIfAbsent("bos_token", "");
        ctx.putIfAbsent("eos_token", "");
        ctx.put("messages", List.of(Map.of("role", "user", "content", userMessage)));
        ctx.put("add_generation_prompt", true);
        RenderResult r = j.renderForResult(template, ctx);
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new Align4jException(source + ": the chat template failed on a one-user-message prompt: "
                        + e.getMessage() + ". Fix the template or generate with --no-chat-template.");
            }
        }
        return r.getOutput();
    }
}
