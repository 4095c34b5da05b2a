package io.github.align4j.internal;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import io.github.align4j.Align4jException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * YAML files a user hands to align4j (recipes, sweep files), bounded before SnakeYAML sees them:
 * at most {@link #MAX_BYTES} bytes (never read past that, so a sparse or endless file costs nothing),
 * lines of at most {@link #MAX_LINE_CHARS} characters (SnakeYAML's scanner is super-linear in the
 * length of a line: a 9 MB one-line comment took ~50 s), one document, no aliases, and nesting of
 * at most {@link #MAX_DEPTH} levels. Not part of align4j's API.
 */
public final class BoundedYaml {
    /** Largest file: a recipe or sweep file is a mapping of a few dozen keys, a few KB. */
    public static final int MAX_BYTES = 1 << 20;
    /** Longest line, in characters (SnakeYAML reads a line of this length in about 15 ms). */
    public static final int MAX_LINE_CHARS = 64 * 1024;
    /** Deepest nesting of mappings and lists. */
    public static final int MAX_DEPTH = 50;

    private static final YAMLFactory YAML = YAMLFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH)
                    .maxStringLength(MAX_BYTES).maxDocumentLength(MAX_BYTES).build())
            .loaderOptions(loaderOptions())
            .build();
    private static final ObjectMapper MAPPER = new ObjectMapper(YAML);

    private BoundedYaml() {}

    /**
     * A parsed YAML document.
     *
     * @param text the file's text, verbatim
     * @param root the document (null for an empty file)
     * @param keyLines the line of each top-level key
     */
    public record Document(String text, JsonNode root, Map<String, Integer> keyLines) {
        public Document {
            keyLines = Collections.unmodifiableMap(new LinkedHashMap<>(keyLines));
        }
    }

    /** SnakeYAML's own limits, tightened (Jackson reads SnakeYAML's events; aliases are refused below). */
    private static org.yaml.snakeyaml.LoaderOptions loaderOptions() {
        org.yaml.snakeyaml.LoaderOptions o = new org.yaml.snakeyaml.LoaderOptions();
        o.setMaxAliasesForCollections(0);
        o.setAllowRecursiveKeys(false);
        o.setNestingDepthLimit(MAX_DEPTH);
        o.setCodePointLimit(MAX_BYTES);
        return o;
    }

    /**
     * Reads and parses a YAML file within the limits.
     *
     * @param what what the file is, for messages ("recipe", "sweep config")
     * @throws Align4jException naming the file (and line) when it is missing, too large, not UTF-8,
     *     has a line too long, more than one document, an alias, or is not valid YAML
     */
    public static Document read(Path file, String what) {
        return parse(file, readText(file, what), what);
    }

    /** The file's text: at most {@link #MAX_BYTES} bytes read, strict UTF-8. */
    public static String readText(Path file, String what) {
        byte[] bytes;
        try {
            if (Files.isDirectory(file)) {
                throw new Align4jException(file + ": a folder, not a " + what + " file (YAML)");
            }
            if (Files.size(file) > MAX_BYTES) { // a regular file: refused without reading a byte
                throw tooLarge(file, what);
            }
            try (InputStream in = Files.newInputStream(file)) { // a pipe or a device reports size 0: read at most the cap
                bytes = in.readNBytes(MAX_BYTES + 1);
            }
        } catch (NoSuchFileException e) {
            throw new Align4jException(file + ": " + what + " not found");
        } catch (IOException e) {
            throw new Align4jException(file + ": cannot read the " + what + ": " + e.getClass().getSimpleName(), e);
        }
        if (bytes.length > MAX_BYTES) {
            throw tooLarge(file, what);
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new Align4jException(file + ": not a text file (invalid UTF-8); a " + what + " is a YAML mapping of key: value");
        }
        int line = 1;
        int start = 0;
        for (int i = 0; i <= text.length(); i++) {
            if (i == text.length() || text.charAt(i) == '\n') {
                if (i - start > MAX_LINE_CHARS) {
                    throw new Align4jException(String.format(Locale.ROOT, "%s:%d: a line of %,d characters; a %s's lines "
                            + "are short (at most %,d characters here). Check the file, or break the value over lines",
                            file, line, i - start, what, MAX_LINE_CHARS));
                }
                line++;
                start = i + 1;
            }
        }
        return text;
    }

    private static String name(JsonParser p) {
        try {
            return p.currentName() == null ? "" : p.currentName();
        } catch (IOException e) {
            return "";
        }
    }

    /** file:line of a parse error (the line when known). */
    private static String at(Path file, JsonProcessingException e) {
        var loc = e.getLocation();
        return file + (loc != null && loc.getLineNr() > 0 ? ":" + loc.getLineNr() : "");
    }

    private static Align4jException tooLarge(Path file, String what) {
        return new Align4jException(String.format(Locale.ROOT, "%s: larger than %,d bytes, far too large for a %s (a YAML "
                + "mapping of a few dozen keys); check the path", file, MAX_BYTES, what));
    }

    /**
     * Parses YAML text that {@link #readText} returned: one document, no aliases, nesting of at
     * most {@link #MAX_DEPTH}. Errors name the file and line, never quote the content.
     */
    public static Document parse(Path file, String text, String what) {
        if (text.length() > MAX_BYTES) {
            throw tooLarge(file, what);
        }
        Map<String, Integer> lines = new LinkedHashMap<>();
        try {
            // First pass over the tokens: the limits, and the line of each top-level key.
            try (JsonParser p = YAML.createParser(text)) {
                int depth = 0;
                boolean seen = false;
                for (JsonToken t = p.nextToken(); t != null; t = p.nextToken()) {
                    if (depth == 0 && seen) {
                        throw new Align4jException(file + ":" + p.currentTokenLocation().getLineNr() + ": a second YAML "
                                + "document; a " + what + " is one document (remove the '---' and what follows it)");
                    }
                    if (p instanceof YAMLParser y && y.isCurrentAlias()) {
                        throw new Align4jException(file + ":" + p.currentTokenLocation().getLineNr() + ": a YAML alias "
                                + "(*name); a " + what + " takes no aliases: write the value out");
                    }
                    switch (t) {
                        case START_OBJECT, START_ARRAY -> depth++;
                        case END_OBJECT, END_ARRAY -> depth--;
                        case FIELD_NAME -> {
                            if (depth == 1) {
                                lines.putIfAbsent(p.currentName(), p.currentTokenLocation().getLineNr());
                            }
                        }
                        default -> { }
                    }
                    seen |= depth == 0;
                }
            }
            return new Document(text, MAPPER.readTree(text), lines);
        } catch (StreamConstraintsException e) {
            throw new Align4jException(at(file, e) + ": not a valid YAML " + what + ": nested deeper than " + MAX_DEPTH
                    + " levels, or too large");
        } catch (JsonProcessingException e) {
            String kind = "malformed YAML";
            if (String.valueOf(e.getOriginalMessage()).startsWith("Duplicate field") && e.getProcessor() instanceof JsonParser p) {
                String key = name(p);
                kind = "key '" + Texts.printable(key.length() > 100 ? key.substring(0, 100) + "..." : key) + "' given twice";
            }
            var loc = e.getLocation();
            throw new Align4jException(at(file, e) + ": not a valid YAML " + what + ": " + kind
                    + (loc != null && loc.getColumnNr() > 0 ? " (column " + loc.getColumnNr() + ")" : ""));
        } catch (IOException e) {
            throw new Align4jException(file + ": not a valid YAML " + what + " (" + e.getClass().getSimpleName() + ")", e);
        } catch (RuntimeException e) {
            if (e instanceof Align4jException a) {
                throw a;
            }
            // SnakeYAML's own exceptions (its limits among them) are unchecked
            throw new Align4jException(file + ": not a valid YAML " + what + " (" + e.getClass().getSimpleName() + ")", e);
        } catch (StackOverflowError e) {
            throw new Align4jException(file + ": not a valid YAML " + what + ": nested too deeply");
        }
    }
}
