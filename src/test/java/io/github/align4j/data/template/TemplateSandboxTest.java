package io.github.align4j.data.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import io.github.align4j.data.ChatTemplate;
import io.github.align4j.data.Message;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile chat templates (issue 10): each published jinjava escape, each way to jinjava's
 * interpreter, beans and files, and each way to exhaust time, memory or the stack, run against
 * align4j's real renderer. Each must be refused with an {@link Align4jException} that names the
 * template, and none may read, write or delete a file (canaries in a temp folder are checked after
 * every payload).
 */
class TemplateSandboxTest {
    static final List<Message> MESSAGES = List.of(Message.user("hi"), Message.assistant("hello"));

    @TempDir
    static Path dir;

    static final String MARKER = "canary-" + UUID.randomUUID();
    static Path canary;
    static Path victim;

    @BeforeEach
    void canaries() throws IOException {
        canary = dir.resolve("canary.txt");
        victim = dir.resolve("victim.txt");
        Files.writeString(canary, MARKER);
        Files.writeString(victim, MARKER);
    }

    @AfterEach
    void nothingTouched() throws IOException {
        assertEquals(MARKER, Files.readString(canary));
        assertEquals(MARKER, Files.readString(victim), "victim.txt was changed");
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("canary.txt", "victim.txt"), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    /** Payloads that must be refused outright. {} in a payload is the canary's path. */
    static Stream<String> escapes() {
        return Stream.of(
                // GHSA-m49c-g9wr-hv6v / CVE-2025-59340, as in issue 10: read a file through the ObjectMapper
                "{% set om = ____int3rpr3t3r____.config.objectMapper %}{% set tf = om.getTypeFactory() %}"
                        + "{% set u = om.readValue('\"file://{}\"', tf.constructFromCanonical('java.net.URL')) %}"
                        + "{{ om.writeValueAsString(u.openStream().readAllBytes()) }}",
                // the same, writing and deleting through java.io.File
                "{% set om = ____int3rpr3t3r____.config.objectMapper %}"
                        + "{% set f = om.readValue('\"{}\"', om.getTypeFactory().constructFromCanonical('java.io.File')) %}"
                        + "{{ f.delete() }}{{ f.getParentFile().toPath().resolve('new.sh').toFile().createNewFile() }}",
                // CVE-2026-25526 style: the interpreter's context, config, resource locator
                "{{ ____int3rpr3t3r____ }}",
                "{{ ____int3rpr3t3r____.context }}",
                "{{ ____int3rpr3t3r____.getContext().getGlobalContext() }}",
                "{{ ____int3rpr3t3r____.config.getObjectMapper() }}",
                "{% set i = ____int3rpr3t3r____ %}{{ i.getResource('{}') }}",
                "{{ ____int3rpr3t3r____.getResourceLocator() }}",
                "{% for x in [____int3rpr3t3r____] %}{{ x.config }}{% endfor %}",
                "{{ filter:upper.filter('a', ____int3rpr3t3r____) }}",
                "{{ exptest:defined.evaluate('a', ____int3rpr3t3r____) }}",
                // reflection from plain values
                "{{ ''.getClass().forName('java.lang.Runtime').getRuntime().exec('touch {}.x') }}",
                "{{ ''.class.forName('java.io.File') }}",
                "{{ 'a'.getClass() }}",
                "{{ messages.getClass() }}",
                "{{ messages[0].getClass() }}",
                "{{ messages.iterator() }}",
                "{{ (1).getClass() }}",
                "{{ true.getClass() }}",
                "{% for m in messages %}{{ loop.getClass() }}{% endfor %}",
                "{% macro m() %}x{% endmacro %}{{ m.getClass() }}",
                "{{ namespace(a=1).getClass() }}",
                "{{ range(3).getClass() }}",
                "{{ dict(a=1).getClass() }}",
                "{{ 'x'|attr('class') }}{{ ('x'|attr('getClass'))() }}",
                "{{ ''.__class__.__mro__[1].__subclasses__() }}",
                "{{ 'a'.repeat(3) }}",
                "{{ 'a'.getBytes() }}",
                "{{ messages.append(1) }}",
                "{{ messages[0].put('role', 'x') }}",
                // template loading: files and the classpath
                "{% include '{}' %}",
                "{% include 'META-INF/MANIFEST.MF' %}",
                "{% import '{}' as x %}",
                "{% from '{}' import x %}",
                "{% extends '{}' %}",
                // jinjava-only filters and functions that reach files, JSON/YAML parsers, dates, Java
                "{{ '{}'|include_raw }}",
                "{{ '{\"a\": 1}'|fromjson }}",
                "{{ 'a: 1'|fromyaml }}",
                "{{ '{{ 1 }}'|render }}",
                "{{ messages|pprint }}",
                "{{ type('a') }}",
                "{{ today() }}",
                "{{ unixtimestamp() }}",
                // filters whose jars align4j's pom excludes from jinjava's (commons-net, java-ipv6, big-math):
                // refused by name, never a NoClassDefFoundError
                "{{ '10.0.0.1'|ipaddr }}",
                "{{ '::1'|ipv6 }}",
                "{{ 'a'|b64encode }}",
                "{{ 8|log(2) }}",
                "{{ 8|root(3) }}");
    }

    @ParameterizedTest
    @MethodSource("escapes")
    void escapeIsRefused(String payload) {
        String template = payload.replace("{}", canary.toString());
        Align4jException e = assertThrows(Align4jException.class, () -> render(template, TemplateLimits.defaults()),
                () -> "rendered: " + template);
        assertTrue(e.getMessage().startsWith("/m/tokenizer_config.json: chat template: "), e.getMessage());
        assertFalse(e.getMessage().contains(MARKER), e.getMessage());
    }

    /** Values jinja2 gives as undefined (printed empty): the sandbox answers nothing, not the Java object. */
    @Test
    void javaPropertiesOfPlainValuesAreUndefined() {
        assertEquals("|||", render("{{ 'a'.class }}|{{ 'a'.bytes }}|{{ messages.size }}|{{ messages[0].class }}",
                TemplateLimits.defaults()));
        // a macro is not a value a template can take apart
        assertEquals("", render("{% macro m() %}x{% endmacro %}{{ m.interpreter }}", TemplateLimits.defaults()));
        // jinjava's for loop reads bean properties of an item it cannot unpack; here it finds none
        assertEquals("[]", render("[{% for a, class in ['x'] %}{{ class }}{% endfor %}]", TemplateLimits.defaults()));
    }

    // --------------------------------------------------------------------------------- limits

    @Test
    void stringsPastTheLimitAreRefusedBeforeTheyAreBuilt() {
        for (String payload : List.of("{{ 'a'.center(2000000000) }}", "{{ 'a'.ljust(2000000000) }}",
                "{{ 'a'.rjust(2000000000, 'x') }}", "{{ 'a'.zfill(2000000000) }}",
                "{{ '{:>2000000000}'.format('a') }}", "{{ 'a'|center(2000000000) }}",
                "{{ 'a'|indent(2000000000) }}", "{{ '%2000000000s'|format('a') }}",
                "{{ [1]|batch(2000000000, 'x') }}")) {
            Align4jException e = assertThrows(Align4jException.class, () -> render(payload, TemplateLimits.defaults()), payload);
            assertTrue(e.getMessage().contains("string size exceeded") && e.getMessage().contains("the limit is 16777216"
                    + " characters, change it with TemplateLimits.withMaxStringChars"), payload + " -> " + e.getMessage());
        }
        TemplateLimits small = TemplateLimits.defaults().withMaxStringChars(100);
        for (String payload : List.of("{{ ', '.join(" + "['0123456789'] + ".repeat(20) + "[]) }}",
                "{{ 'aaaaaaaaaa'.replace('a', '0123456789abc') }}",
                "{{ '0123456789' * 0 }}{% set s = '012345678901234567890123456789012345678901234567890123456789' %}{{ s + s }}")) {
            Align4jException e = assertThrows(Align4jException.class, () -> render(payload, small), payload);
            assertTrue(e.getMessage().contains("string size exceeded"), payload + " -> " + e.getMessage());
        }
        assertEquals("  a  ", render("{{ 'a'.center(5) }}", small));
    }

    @Test
    void stringRepetitionIsRefused() {
        Align4jException e = assertThrows(Align4jException.class, () -> render("{{ 'a' * 2000000000 }}", TemplateLimits.defaults()));
        assertTrue(e.getMessage().startsWith("/m/tokenizer_config.json: chat template: "), e.getMessage());
    }

    @Test
    void outputPastTheLimitIsRefused() {
        TemplateLimits limits = TemplateLimits.defaults().withMaxOutputChars(1000);
        assertEquals(1000, render("{% for i in range(1000) %}x{% endfor %}", limits).length());
        Align4jException e = assertThrows(Align4jException.class,
                () -> render("{% for i in range(1001) %}x{% endfor %}", limits));
        assertTrue(e.getMessage().contains("output size exceeded") && e.getMessage().contains("the limit is 1000"
                + " characters, change it with TemplateLimits.withMaxOutputChars"), e.getMessage());
    }

    @Test
    void loopIterationsPastTheLimitAreRefused() {
        TemplateLimits limits = TemplateLimits.defaults().withMaxLoopIterations(10_000);
        assertEquals("", render("{% for i in range(100) %}{% for j in range(99) %}{% endfor %}{% endfor %}", limits));
        Align4jException e = assertThrows(Align4jException.class,
                () -> render("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", limits));
        assertTrue(e.getMessage().contains("loop iterations exceeded") && e.getMessage().contains("the limit is 10000,"
                + " change it with TemplateLimits.withMaxLoopIterations"), e.getMessage());
    }

    @Test
    void renderTimePastTheLimitIsRefused() {
        // One nanosecond: any render with a loop runs longer; this test does not measure time.
        TemplateLimits limits = TemplateLimits.defaults().withMaxRenderTime(Duration.ofNanos(1));
        Align4jException e = assertThrows(Align4jException.class,
                () -> render("{% for i in range(1000) %}{{ i }}{% endfor %}", limits));
        assertTrue(e.getMessage().contains("render time exceeded") && e.getMessage().contains("change it with"
                + " TemplateLimits.withMaxRenderTime"), e.getMessage());
    }

    @Test
    void rangeLargerThanJinja2sSandboxAllowsRaises() {
        assertEquals("100000", render("{{ range(100000)|length }}", TemplateLimits.defaults()));
        assertEquals("[0, 3, 6]|[5, 4]|[]", render("{{ range(0, 9, 3)|list }}|{{ range(5, 3, -1)|list }}|{{ range(3, 1)|list }}",
                TemplateLimits.defaults()));
        for (String payload : List.of("{{ range(10**9) }}", "{{ range(100001) }}", "{% for i in range(1000000000) %}{% endfor %}")) {
            Align4jException e = assertThrows(Align4jException.class, () -> render(payload, TemplateLimits.defaults()), payload);
            assertTrue(e.getMessage().contains("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)."),
                    payload + " -> " + e.getMessage());
        }
    }

    @Test
    void deepNestingIsRefusedNotAStackOverflow() {
        String ifs = "{% if true %}".repeat(20_000) + "x" + "{% endif %}".repeat(20_000);
        Align4jException e = assertThrows(Align4jException.class, () -> render(ifs, TemplateLimits.defaults()));
        assertTrue(e.getMessage().contains("nesting depth exceeded") && e.getMessage().contains("the limit is 100,"
                + " change it with TemplateLimits.withMaxNestingDepth"), e.getMessage());
        assertEquals("x", render("{% if true %}".repeat(50) + "x" + "{% endif %}".repeat(50), TemplateLimits.defaults()));

        String parens = "{{ " + "(".repeat(50_000) + "1" + ")".repeat(50_000) + " }}";
        e = assertThrows(Align4jException.class, () -> render(parens, TemplateLimits.defaults()));
        assertTrue(e.getMessage().contains("nesting depth exceeded"), e.getMessage());
    }

    @Test
    void recursiveMacroRaisesLikeJinja2() {
        String endless = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
        Align4jException e = assertThrows(Align4jException.class, () -> render(endless, TemplateLimits.defaults()));
        assertTrue(e.getMessage().contains("macro recursion depth exceeded (RecursionError") && e.getMessage()
                .contains("the limit is 100, change it with TemplateLimits.withMaxMacroDepth"), e.getMessage());
        // recursion that stops renders, as in jinja2
        assertEquals("3210", render("{% macro f(n) %}{{ n }}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}",
                TemplateLimits.defaults()));
    }

    @Test
    void limitsRejectNonsense() {
        assertThrows(IllegalArgumentException.class, () -> TemplateLimits.defaults().withMaxOutputChars(0));
        assertThrows(IllegalArgumentException.class, () -> TemplateLimits.defaults().withMaxRenderTime(Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> TemplateLimits.defaults().withMaxStringChars(1L << 40));
    }

    static String render(String template, TemplateLimits limits) {
        return ChatTemplate.of(template, Map.of("bos_token", "<s>"), "/m/tokenizer_config.json", limits)
                .render(new ArrayList<>(MESSAGES), true);
    }
}
