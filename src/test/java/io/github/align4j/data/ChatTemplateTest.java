package io.github.align4j.data;

import static io.github.align4j.data.Message.assistant;
import static io.github.align4j.data.Message.system;
import static io.github.align4j.data.Message.user;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * Renders real chat templates and checks the exact text against strings worked out by hand from
 * each template's source (the comments say how), plus the jinja2/Python behaviours the templates
 * rely on.
 */
class ChatTemplateTest {

    static final List<Message> WITH_SYSTEM = List.of(
            system("You are helpful."),
            user("Hi there"),
            assistant("Hello! How can I help?"),
            user("What is 2+2?"));
    static final List<Message> WITHOUT_SYSTEM = WITH_SYSTEM.subList(1, 4);

    // ------------------------------------------------------------------------------ test data

    /** The test data root (src/test/resources, see {@link io.github.align4j.TestData}). */
    static Path shared() {
        return io.github.align4j.TestData.shared();
    }

    static JsonNode json(String relative) {
        try {
            return new ObjectMapper().readTree(shared().resolve(relative).toFile());
        } catch (IOException e) {
            return fail("cannot read " + relative + ": " + e);
        }
    }

    static ChatTemplate simpo(String name, Map<String, String> tokens) {
        String file = "data/chat_templates/simpo_chat_templates.json";
        return ChatTemplate.of(json(file).get(name).asText(), tokens, file + "#" + name);
    }

    /** A tokenizer_config.json's chat_template with the special tokens of the same file. */
    static ChatTemplate fromTokenizerConfig(String folder) {
        String file = "data/tokenizers/" + folder + "/tokenizer_config.json";
        JsonNode config = json(file);
        Map<String, String> tokens = new HashMap<>();
        for (String name : List.of("bos_token", "eos_token", "pad_token", "unk_token")) {
            JsonNode value = config.get(name);
            tokens.put(name, value == null || value.isNull() ? null : value.asText());
        }
        return ChatTemplate.of(config.get("chat_template").asText(), tokens, file);
    }

    static final Map<String, String> ZEPHYR_TOKENS = Map.of("bos_token", "<s>", "eos_token", "</s>");

    /** Renders a small inline template over WITH_SYSTEM. */
    static String render(String template, Map<String, Object> extra) {
        return ChatTemplate.of(template, ZEPHYR_TOKENS, "test").render(WITH_SYSTEM, false, extra);
    }

    static String render(String template) {
        return render(template, Map.of());
    }

    static Align4jException renderError(String template, Map<String, Object> extra) {
        return assertThrows(Align4jException.class, () -> render(template, extra));
    }

    // --------------------------------------------------------------------------- real templates

    /**
     * zephyr-7b-beta (SimPO's "mistral-base"): every tag sits on its own line, so trim_blocks eats
     * the newline after each {@code %}} while the newline after each {@code }}} stays. Each message
     * is "<|role|>\n" + content + eos_token + "\n"; after the last one, add_generation_prompt adds
     * "<|assistant|>" + "\n".
     */
    @Nested
    class Zephyr {
        final ChatTemplate template = simpo("mistral-base", ZEPHYR_TOKENS);

        @Test
        void withSystem() {
            String turns = "<|system|>\nYou are helpful.</s>\n"
                    + "<|user|>\nHi there</s>\n"
                    + "<|assistant|>\nHello! How can I help?</s>\n"
                    + "<|user|>\nWhat is 2+2?</s>\n";
            assertEquals(turns, template.render(WITH_SYSTEM, false));
            assertEquals(turns + "<|assistant|>\n", template.render(WITH_SYSTEM, true));
        }

        @Test
        void withoutSystem() {
            assertEquals("<|user|>\nHi there</s>\n"
                    + "<|assistant|>\nHello! How can I help?</s>\n"
                    + "<|user|>\nWhat is 2+2?</s>\n"
                    + "<|assistant|>\n", template.render(WITHOUT_SYSTEM, true));
        }
    }

    /**
     * SimPO's "mistral-instruct": bos_token, then "[INST] " + content + " [/INST]" for a user and
     * content + eos_token for an assistant; no generation prompt. Message i must be a user exactly
     * when i is even, else raise_exception('Conversation roles must alternate ...'); any other role
     * at a place the check lets through raises 'Only user and assistant roles are supported!'.
     */
    @Nested
    class MistralInstruct {
        final ChatTemplate template = simpo("mistral-instruct", ZEPHYR_TOKENS);

        @Test
        void alternatingConversation() {
            String expected = "<s>[INST] Hi there [/INST]Hello! How can I help?</s>[INST] What is 2+2? [/INST]";
            assertEquals(expected, template.render(WITHOUT_SYSTEM, false));
            assertEquals(expected, template.render(WITHOUT_SYSTEM, true));
        }

        @Test
        void systemMessageRaisesTheTemplatesOwnMessage() {
            Align4jException e = assertThrows(Align4jException.class, () -> template.render(WITH_SYSTEM, false));
            assertEquals("data/chat_templates/simpo_chat_templates.json#mistral-instruct: chat template: "
                    + "Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
        }

        @Test
        void unsupportedRoleRaisesTheTemplatesOwnMessage() {
            // index 1 is not a user, so the alternation check passes; 'system' is neither role.
            Align4jException e = assertThrows(Align4jException.class,
                    () -> template.render(List.of(user("a"), system("b")), false));
            assertEquals("data/chat_templates/simpo_chat_templates.json#mistral-instruct: chat template: "
                    + "Only user and assistant roles are supported!", e.getMessage());
        }
    }

    /**
     * SimPO's "llama3": each message becomes "<|start_header_id|>" + role + "<|end_header_id|>\n\n"
     * + (content | trim) + "<|eot_id|>" (the filter binds tighter than +, so only the content is
     * trimmed); the first one gets bos_token in front; add_generation_prompt appends the assistant
     * header. System messages are ordinary turns.
     */
    @Nested
    class Llama3 {
        final ChatTemplate template = simpo("llama3",
                Map.of("bos_token", "<|begin_of_text|>", "eos_token", "<|eot_id|>"));

        @Test
        void withSystem() {
            String turns = "<|begin_of_text|>"
                    + "<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                    + "<|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>";
            assertEquals(turns, template.render(WITH_SYSTEM, false));
            assertEquals(turns + "<|start_header_id|>assistant<|end_header_id|>\n\n", template.render(WITH_SYSTEM, true));
        }

        @Test
        void withoutSystemTheBosGoesBeforeTheFirstUserTurn() {
            assertEquals("<|begin_of_text|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                    + "<|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>",
                    template.render(WITHOUT_SYSTEM, false));
        }

        @Test
        void trimAppliesToTheContentOnly() {
            assertEquals("<|begin_of_text|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\npadded<|eot_id|>"
                    + "<|start_header_id|>assistant<|end_header_id|>\n\nyes<|eot_id|>",
                    template.render(List.of(user("  padded\n\n "), assistant("\tyes  ")), false));
        }
    }

    /**
     * phi-3-mini's tokenizer_config.json: "<|role|>\n" + content + "<|end|>\n" for system, user and
     * assistant; then "<|assistant|>\n" with add_generation_prompt, else eos_token
     * ("<|endoftext|>" in that file).
     */
    @Nested
    class Phi3 {
        final ChatTemplate template = fromTokenizerConfig("phi-3-mini");

        @Test
        void withSystem() {
            String turns = "<|system|>\nYou are helpful.<|end|>\n"
                    + "<|user|>\nHi there<|end|>\n"
                    + "<|assistant|>\nHello! How can I help?<|end|>\n"
                    + "<|user|>\nWhat is 2+2?<|end|>\n";
            assertEquals(turns + "<|endoftext|>", template.render(WITH_SYSTEM, false));
            assertEquals(turns + "<|assistant|>\n", template.render(WITH_SYSTEM, true));
        }

        @Test
        void withoutSystem() {
            assertEquals("<|user|>\nHi there<|end|>\n"
                    + "<|assistant|>\nHello! How can I help?<|end|>\n"
                    + "<|user|>\nWhat is 2+2?<|end|>\n"
                    + "<|endoftext|>", template.render(WITHOUT_SYSTEM, false));
        }
    }

    /**
     * Qwen2.5-Instruct's tokenizer_config.json (ChatML). Every tag is {%- ... %} or {{- ... }}, so
     * the template's own indentation and newlines vanish. Without tools: a system block from
     * messages[0] if it is a system message, else the default "You are Qwen, created by Alibaba
     * Cloud. You are a helpful assistant."; then "<|im_start|>" + role + "\n" + content +
     * "<|im_end|>\n" per message (the first system message is skipped, as loop.first); then
     * "<|im_start|>assistant\n" with add_generation_prompt.
     */
    @Nested
    class Qwen25 {
        final ChatTemplate template = fromTokenizerConfig("qwen2.5");

        static final String TURNS = "<|im_start|>user\nHi there<|im_end|>\n"
                + "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n"
                + "<|im_start|>user\nWhat is 2+2?<|im_end|>\n";

        @Test
        void withSystem() {
            String system = "<|im_start|>system\nYou are helpful.<|im_end|>\n";
            assertEquals(system + TURNS, template.render(WITH_SYSTEM, false));
            assertEquals(system + TURNS + "<|im_start|>assistant\n", template.render(WITH_SYSTEM, true));
        }

        @Test
        void withoutSystemItInjectsItsDefaultSystemPrompt() {
            assertEquals("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                    + TURNS + "<|im_start|>assistant\n", template.render(WITHOUT_SYSTEM, true));
        }

        /**
         * With tools: the system block lists each tool as {@code tool | tojson} (transformers' tojson
         * is json.dumps with ", " and ": "); an assistant turn with tool_calls prints each call's
         * function as a {@code <tool_call>} block (content "" is false, so no text); a tool message
         * after a non-tool one opens a user turn with a {@code <tool_response>}, closed as it is the
         * last message.
         */
        @Test
        void toolsAndToolCalls() {
            Map<String, Object> tool = map("type", "function", "function", map(
                    "name", "get_weather",
                    "description", "Get the weather",
                    "parameters", map("type", "object",
                            "properties", map("city", map("type", "string")),
                            "required", List.of("city"))));
            List<Map<String, Object>> messages = List.of(
                    map("role", "user", "content", "What's the weather in Paris?"),
                    map("role", "assistant", "content", "", "tool_calls", List.of(map("type", "function",
                            "function", map("name", "get_weather", "arguments", map("city", "Paris"))))),
                    map("role", "tool", "content", "{\"temp_c\": 18}"));
            String expected = "<|im_start|>system\n"
                    + "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n"
                    + "# Tools\n\n"
                    + "You may call one or more functions to assist with the user query.\n\n"
                    + "You are provided with function signatures within <tools></tools> XML tags:\n"
                    + "<tools>\n"
                    + "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the weather\","
                    + " \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}},"
                    + " \"required\": [\"city\"]}}}\n"
                    + "</tools>\n\n"
                    + "For each function call, return a json object with function name and arguments within"
                    + " <tool_call></tool_call> XML tags:\n"
                    + "<tool_call>\n"
                    + "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
                    + "</tool_call><|im_end|>\n"
                    + "<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n"
                    + "<|im_start|>assistant\n"
                    + "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
                    + "<|im_end|>\n"
                    + "<|im_start|>user\n<tool_response>\n{\"temp_c\": 18}\n</tool_response><|im_end|>\n"
                    + "<|im_start|>assistant\n";
            assertEquals(expected, template.renderDicts(messages, true, Map.of("tools", List.of(tool))));
        }
    }

    /** A LinkedHashMap from alternating keys and values (Map.of has no order). */
    static Map<String, Object> map(Object... keysAndValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }

    // ------------------------------------------------------------------------ Python str methods

    @Nested
    class PythonStringMethods {
        @Test
        void strip() {
            assertEquals("[a b]", render("[{{ '  a b \n'.strip() }}]"));
            assertEquals("hi", render("{{ 'xxhixx'.strip('x') }}"));
            // Python's whitespace includes U+00A0 and U+2028, which Java's trim() keeps.
            assertEquals("[x]", render("[{{ s.strip() }}]", Map.of("s", "\u00a0 x \u2028")));
        }

        @Test
        void lstripAndRstrip() {
            assertEquals("[a  ]|[  a]", render("[{{ '  a  '.lstrip() }}]|[{{ '  a  '.rstrip() }}]"));
            assertEquals("hixx|xxhi", render("{{ 'xxhixx'.lstrip('x') }}|{{ 'xxhixx'.rstrip('x') }}"));
            assertEquals("answer", render("{{ s.split('</think>')[-1].lstrip('\\n') }}",
                    Map.of("s", "<think>\nhm\n</think>\n\nanswer")));
        }

        @Test
        void caseMethods() {
            // title(): a letter after a non-letter starts a word, so "they're" -> "They'Re", "1st" -> "1St".
            assertEquals("Hello World They'Re 1St", render("{{ s.title() }}", Map.of("s", "hello wORLD they're 1st")));
            assertEquals("User", render("{{ messages[1].role.title() }}"));
            assertEquals("HELLO|hello|Hello world", render("{{ 'hEllo'.upper() }}|{{ 'hEllo'.lower() }}|{{ 'hELLO wORLD'.capitalize() }}"));
        }

        @Test
        void startswithAndEndswith() {
            assertEquals("True|False|True|True|False|True",
                    render("{{ 'abc'.startswith('ab') }}|{{ 'abc'.startswith('b') }}|{{ 'abc'.startswith(('x', 'a')) }}"
                            + "|{{ 'abc'.endswith('bc') }}|{{ 'abc'.endswith('b') }}|{{ 'abc'.startswith('b', 1) }}"));
        }

        @Test
        void split() {
            assertEquals("['a', 'b', 'c']|['a', 'b', '', 'c']|['a', 'b,c']|['a b', 'c']|['a', 'b  c ']",
                    render("{{ '  a b  c '.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}"
                            + "|{{ 'a b c'.rsplit(' ', 1) }}|{{ '  a b  c '.split(none, 1) }}"));
            assertEquals("z", render("{{ 'x</think>y</think>z'.split('</think>')[-1] }}"));
        }

        @Test
        void replaceAndJoin() {
            assertEquals("bbb|bba|-a-b-|a, b|a-b-c",
                    render("{{ 'aaa'.replace('a', 'b') }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ 'ab'.replace('', '-') }}"
                            + "|{{ ', '.join(['a', 'b']) }}|{{ '-'.join('abc') }}"));
        }

        @Test
        void findCountAndTests() {
            assertEquals("2|3|-1|2|['a', 'b', 'c']|True|False|True|False",
                    render("{{ 'hello'.find('l') }}|{{ 'hello'.rfind('l') }}|{{ 'hello'.find('z') }}|{{ 'hello'.count('l') }}"
                            + "|{{ s.splitlines() }}|{{ '123'.isdigit() }}|{{ ''.isdigit() }}|{{ ' \t'.isspace() }}|{{ 'aB'.islower() }}",
                            Map.of("s", "a\nb\r\nc")));
        }

        @Test
        void format() {
            assertEquals("a and 1|xyx|Bob!|   ab|3.14|00042|'q'|{x}",
                    render("{{ '{} and {}'.format('a', 1) }}|{{ '{0}{1}{0}'.format('x', 'y') }}|{{ '{name}!'.format(name='Bob') }}"
                            + "|{{ '{:>5}'.format('ab') }}|{{ '{:.2f}'.format(3.14159) }}|{{ '{:05d}'.format(42) }}"
                            + "|{{ '{!r}'.format('q') }}|{{ '{{x}}'.format() }}"));
        }

        @Test
        void indexing() {
            assertEquals("Y|r|c|bc", render("{{ messages[0].content[0] }}|{{ messages[1].role[-1] }}|{{ 'abc'[-1] }}|{{ 'abc'[1:] }}"));
        }

        @Test
        void pythonErrorsStopTheRender() {
            assertEquals("test: chat template: line 1: empty separator", renderError("{{ 'a'.split('') }}", Map.of()).getMessage());
            assertEquals("test: chat template: line 1: sequence item 1: expected str instance, int found",
                    renderError("{{ ''.join(['a', 1]) }}", Map.of()).getMessage());
        }
    }

    // ------------------------------------------------------------------------ jinja2 semantics

    @Nested
    class Jinja2Semantics {
        @Test
        void booleansPrintAsPython() {
            assertEquals("True|False|True|True|[True, None, 1.5, 'x']|{'a': False}|False",
                    render("{{ flag }}|{{ not flag }}|{{ 1 == 1 }}|{{ flag|string }}|{{ [true, none, 1.5, 'x'] }}"
                            + "|{{ {'a': false} }}|{{ add_generation_prompt }}", Map.of("flag", true)));
        }

        @Test
        void numbersPrintAsPython() {
            assertEquals("3|1.0|1e+20|0.30000000000000004|-1|3|3.5",
                    render("{{ 3 }}|{{ 1.0 }}|{{ 1e20 }}|{{ 0.1 + 0.2 }}|{{ -1 }}|{{ 7 // 2 }}|{{ 7 / 2 }}"));
        }

        @Test
        void loopVariablesSlicingNamespaceAndDefined() {
            assertEquals("0TrueFalse4;1FalseFalse4;2FalseFalse4;3FalseTrue4;",
                    render("{% for m in messages %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}"));
            assertEquals("user,assistant,user,|What is 2+2?",
                    render("{% for m in messages[1:] %}{{ m['role'] }},{% endfor %}|{{ messages[-1].content }}"));
            assertEquals("True 2", render("{% set ns = namespace(found=false, n=0) %}{% for m in messages %}"
                    + "{% if m.role == 'user' %}{% set ns.found = true %}{% set ns.n = ns.n + 1 %}{% endif %}{% endfor %}"
                    + "{{ ns.found }} {{ ns.n }}"));
            assertEquals("False|True|False|ND",
                    render("{{ foo is defined }}|{{ messages is defined }}|{{ messages[0].tool_calls is defined }}"
                            + "|{% if not foo is defined %}ND{% endif %}"));
        }

        @Test
        void notBindsLooserThanComparisons() {
            // jinja2: not (x in y), not (a == b); jinjava alone reads (not x) in y.
            assertEquals("True|True|False", render("{{ not '<<SYS>>' in messages[0].content }}|{{ not 1 == 2 }}"
                    + "|{{ not messages[0].role == 'system' }}"));
            assertEquals("q|0|z", render("{{ 1 and 'q' }}|{{ 0 and 'q' }}|{{ '' or 'z' }}"));
        }

        @Test
        void plusIsPythons() {
            assertEquals("ab|3|[1, 2]", render("{{ 'a' + 'b' }}|{{ 1 + 2 }}|{{ [1] + [2] }}"));
            // A message without content must not render as "null" (jinjava alone prints 'a' + None as "anull").
            ChatTemplate template = ChatTemplate.of("{{ '<|user|>' + messages[0].content }}", Map.of(), "t.json");
            assertEquals("t.json: chat template: line 1: can only concatenate str (not \"NoneType\") to str",
                    assertThrows(Align4jException.class, () -> template.render(List.of(user(null)), false)).getMessage());
            assertEquals("test: chat template: line 1: can only concatenate str (not \"int\") to str",
                    renderError("{{ 'a' + 1 }}", Map.of()).getMessage());
        }

        @Test
        void callingAMethodOfNoneIsAnError() {
            ChatTemplate template = ChatTemplate.of("{{ messages[0].content.strip() }}", Map.of(), "t.json");
            assertEquals("t.json: chat template: line 1: cannot call .strip() on None or an undefined value",
                    assertThrows(Align4jException.class, () -> template.render(List.of(user(null)), false)).getMessage());
        }

        @Test
        void stringsAreTrueWhenNotEmptyEvenFalse() {
            // jinjava alone takes the string "false" for false and would drop this message.
            assertEquals("[False]", ChatTemplate.of("{% for m in messages %}{% if m.content %}[{{ m.content }}]{% endif %}{% endfor %}",
                    Map.of(), "test").render(List.of(user("False"), assistant("")), false));
        }

        @Test
        void whitespaceControl() {
            // trim_blocks drops the newline after a tag, lstrip_blocks the indentation before one;
            // '-' strips all whitespace on its side, also in {{- -}}.
            assertEquals("  X\nY\n  e\nZ", render("  {% if true %}\n  X\n  {% endif %}\n  {# c #}\nY\n  {{ 'e' }}\nZ"));
            assertEquals("AB C D", render("{%- if true -%}\n  A  \n{%- endif -%}\n  B\n{{- ' C ' -}}\n D"));
        }

        @Test
        void oneTrailingNewlineOfTheTemplateIsDropped() {
            // jinja2's keep_trailing_newline=False; \r\n in the template reads as \n.
            assertEquals("Hi\n", render("Hi\n\n"));
            assertEquals("a\nb", render("a\r\nb\r\n"));
        }

        @Test
        void messageTextIsNotRenderedAgain() {
            assertEquals("{{ 1 + 1 }} {% if %}", ChatTemplate.of("{{ messages[0].content }}", Map.of(), "test")
                    .render(List.of(user("{{ 1 + 1 }} {% if %}")), false));
        }

        @Test
        void filters() {
            assertEquals("[a b]|4|{\"a\": 1, \"b\": [true, null, \"é\\\"\\n\"]}|[\n  1,\n  2\n]|{\"a\": 2, \"b\": 1}",
                    render("[{{ '  a b \n'|trim }}]|{{ messages|length }}|{{ {'a': 1, 'b': [true, none, s]}|tojson }}"
                            + "|{{ [1, 2]|tojson(indent=2) }}|{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}",
                            Map.of("s", "é\"\n")));
            assertEquals("system, user, assistant, user|assistant,system,user,user|{\"k\": 1}",
                    render("{{ messages|map(attribute='role')|join(', ') }}"
                            + "|{{ messages|sort(attribute='role')|map(attribute='role')|join(',') }}|{{ dict(k=1)|tojson }}"));
        }

        @Test
        void strftimeNowIsDefined() {
            String out = render("{{ strftime_now is defined }}|{{ strftime_now('%Y') }}");
            assertTrue(out.matches("True\\|\\d{4}"), out);
        }

        @Test
        void specialTokensAndExtraVariables() {
            assertEquals("<s></s>|2024", render("{{ bos_token }}{{ eos_token }}|{{ date_string }}", Map.of("date_string", "2024")));
            Align4jException e = renderError("x", Map.of("messages", List.of()));
            assertEquals("test: chat template: extra variable 'messages' is set by align4j itself; remove it from"
                    + " the extra template variables", e.getMessage());
        }

        @Test
        void inputsAreReadOnly() {
            List<Map<String, Object>> messages = new ArrayList<>(List.of(new LinkedHashMap<>(Map.of("role", "user", "content", "a"))));
            ChatTemplate template = ChatTemplate.of("{{ messages.append(1) }}", Map.of(), "test");
            Align4jException e = assertThrows(Align4jException.class, () -> template.renderDicts(messages, false, Map.of()));
            // jinja2's ImmutableSandboxedEnvironment: "access to attribute 'append' of 'list' object is unsafe."
            assertTrue(e.getMessage().startsWith("test: chat template: line 1: access to attribute 'append' of"
                    + " 'list' object is unsafe"), e.getMessage());
            assertEquals(1, messages.size());
        }
    }

    // ------------------------------------------------------------------------------- errors

    @Nested
    class Errors {
        @Test
        void raiseExceptionStopsRendering() {
            // Nothing after raise_exception may run: the second raise_exception would change the message.
            ChatTemplate template = ChatTemplate.of("{% for m in messages %}"
                    + "{% if loop.index0 == 1 %}{{ raise_exception('stop at ' ~ m.role) }}{% endif %}"
                    + "{% endfor %}{{ raise_exception('second') }}", Map.of(), "/t/tokenizer_config.json");
            Align4jException e = assertThrows(Align4jException.class, () -> template.render(WITH_SYSTEM, false));
            assertEquals("/t/tokenizer_config.json: chat template: stop at user", e.getMessage());
        }

        @Test
        void extraValuesMustBePlainData() {
            // No Java object reaches a template: its getters and methods would be a way out of the sandbox.
            ChatTemplate template = ChatTemplate.of("{{ x }}", Map.of(), "t.json");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> template.render(WITH_SYSTEM, false, Map.of("x", new StringBuilder("a"))));
            assertTrue(e.getMessage().contains("must be a String, Boolean, Number, null, List or Map"), e.getMessage());
        }

        @Test
        void generationTagIsAClearErrorWhenTheTemplateIsRead() {
            Align4jException e = assertThrows(Align4jException.class, () -> ChatTemplate.of(
                    "{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}", Map.of(), "t.json"));
            assertTrue(e.getMessage().startsWith("t.json: chat template: line 1: the {% generation %} tag"), e.getMessage());
            assertTrue(e.getMessage().contains("without the {% generation %} and {% endgeneration %} tags"), e.getMessage());
        }

        @Test
        void otherTemplateErrors() {
            assertEquals("t.json: chat template: line 1: unknown tag {% foo %}: align4j's chat template engine"
                    + " (jinjava) does not support it; use a template without it",
                    assertThrows(Align4jException.class, () -> ChatTemplate.of("{% foo %}", Map.of(), "t.json")).getMessage());
            assertTrue(assertThrows(Align4jException.class, () -> ChatTemplate.of("{% for m in messages %}x", Map.of(), "t.json"))
                    .getMessage().contains("Missing end tag: endfor"));
            assertEquals("test: chat template: line 2: no filter named 'nofilter' (jinja2 has it? align4j's chat"
                    + " template engine, jinjava, does not)", renderError("a\n{{ 'x'|nofilter }}", Map.of()).getMessage());
            assertEquals("test: chat template: line 1: Could not resolve function 'nofunction'",
                    renderError("{{ nofunction(1) }}", Map.of()).getMessage());
            assertTrue(renderError("{% for m in messages %}{{ loop.previtem }}{% endfor %}", Map.of()).getMessage()
                    .contains("loop.previtem is not supported"));
            assertEquals("t.json: chat template is empty; set \"chat_template\" in the tokenizer config or give a"
                    + " template explicitly", assertThrows(Align4jException.class, () -> ChatTemplate.of(" ", Map.of(), "t.json")).getMessage());
        }
    }

    // -------------------------------------------------------------------------------- threads

    @Test
    void oneTemplateRendersFromManyThreads() throws Exception {
        ChatTemplate template = fromTokenizerConfig("qwen2.5");
        String expected = template.render(WITH_SYSTEM, true);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                results.add(pool.submit(() -> {
                    for (int i = 0; i < 100; i++) {
                        if (!template.render(WITH_SYSTEM, true).equals(expected)) {
                            return false;
                        }
                    }
                    return true;
                }));
            }
            for (Future<Boolean> result : results) {
                assertTrue(result.get());
            }
        } finally {
            pool.shutdownNow();
        }
        assertFalse(expected.isEmpty());
    }
}
