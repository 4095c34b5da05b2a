package io.github.align4j.model;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.align4j.Align4jException;
import io.github.align4j.internal.FolderFiles;
import io.github.align4j.internal.Offline;
import io.github.align4j.internal.Texts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json} (through DJL's Rust tokenizer) with the special tokens and
 * chat template of {@code tokenizer_config.json}.
 *
 * <p>Built with truncation and padding off (DJL's defaults silently cut at 512 tokens) and without
 * automatic special tokens: {@link #encode(String)} returns exactly the ids of the text. BOS and
 * EOS are added by the caller where TRL adds them.
 */
public final class TextTokenizer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HuggingFaceTokenizer tokenizer;
    private final Path dir;
    private final Map<String, String> specialTokens;
    private final String chatTemplate;
    private final Integer bosId;
    private final Integer eosId;
    private final Integer padId;
    private volatile boolean closed;

    private TextTokenizer(HuggingFaceTokenizer tokenizer, Path dir, Map<String, String> specialTokens,
            String chatTemplate, Integer bosId, Integer eosId, Integer padId) {
        this.tokenizer = tokenizer;
        this.dir = dir;
        this.specialTokens = Collections.unmodifiableMap(specialTokens);
        this.chatTemplate = chatTemplate;
        this.bosId = bosId;
        this.eosId = eosId;
        this.padId = padId;
    }

    /**
     * Loads the tokenizer of a model folder: {@code tokenizer.json}, {@code tokenizer_config.json} when present, and
     * the EOS token from {@code config.json}'s {@code eos_token_id} when the tokenizer config names none.
     */
    public static TextTokenizer load(Path dir) {
        Integer eos = Files.isRegularFile(dir.resolve("config.json")) ? ModelConfig.load(dir).eosTokenId() : null;
        return load(dir, eos);
    }

    /**
     * Loads {@code tokenizer.json} and, when present, {@code tokenizer_config.json} from a folder.
     *
     * @param dir a Hugging Face model or tokenizer folder
     * @param fallbackEosId the model config's {@code eos_token_id}, used when the tokenizer config names none
     */
    public static TextTokenizer load(Path dir, Integer fallbackEosId) {
        Offline.ensure();
        Path file = FolderFiles.inside(dir, dir.resolve("tokenizer.json"), "tokenizer folder");
        if (!Files.isRegularFile(file)) {
            throw new Align4jException(file + ": no tokenizer.json here. Copy the tokenizer files of the "
                    + "checkpoint (tokenizer.json, tokenizer_config.json) into " + dir + ".");
        }
        HuggingFaceTokenizer tok;
        try {
            tok = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optAddSpecialTokens(false)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
        } catch (IOException | RuntimeException e) {
            throw new Align4jException(file + ": cannot read the tokenizer: " + tokenizerError(e), e);
        }
        Map<String, String> special = new LinkedHashMap<>();
        String template = null;
        Path cfgFile = FolderFiles.inside(dir, dir.resolve("tokenizer_config.json"), "tokenizer folder");
        if (Files.isRegularFile(cfgFile)) {
            JsonNode cfg;
            try {
                cfg = JSON.readTree(cfgFile.toFile());
            } catch (JsonProcessingException e) {
                tok.close();
                throw new Align4jException(Texts.jsonError(cfgFile + ": not valid JSON", e), e);
            } catch (IOException e) {
                tok.close();
                throw new Align4jException(cfgFile + ": cannot read: " + e.getMessage(), e);
            }
            if (cfg == null || !cfg.isObject()) {
                tok.close();
                throw new Align4jException(cfgFile + ": expected a JSON object");
            }
            for (String key : new String[] {"bos_token", "eos_token", "pad_token", "unk_token", "sep_token", "cls_token", "mask_token"}) {
                String v = tokenText(cfg.get(key));
                if (v != null) {
                    special.put(key, v);
                }
            }
            template = chatTemplate(cfg.get("chat_template"), cfgFile);
        }
        Integer bos = special.containsKey("bos_token") ? idOf(tok, special.get("bos_token")) : null;
        Integer eos = special.containsKey("eos_token") ? idOf(tok, special.get("eos_token")) : null;
        if (eos == null) {
            eos = fallbackEosId;
        }
        Integer pad = special.containsKey("pad_token") ? idOf(tok, special.get("pad_token")) : null;
        return new TextTokenizer(tok, dir, special, template, bos, eos, pad);
    }

    private static final java.util.regex.Pattern AT_LINE = java.util.regex.Pattern.compile("line (\\d{1,9}) column (\\d{1,9})");

    /**
     * What the tokenizers library said, without its words: serde quotes unknown keys and values of
     * the file ("unknown variant `...`"), so only the position it names is kept.
     */
    static String tokenizerError(Exception e) {
        if (e instanceof IOException && !(e.getMessage() != null && AT_LINE.matcher(e.getMessage()).find())) {
            return "cannot read the file (" + e.getClass().getSimpleName() + ")";
        }
        java.util.regex.Matcher m = AT_LINE.matcher(String.valueOf(e.getMessage()));
        return m.find()
                ? Texts.parseError("not a tokenizer.json the Hugging Face tokenizers library can load", Long.parseLong(m.group(1)),
                        Long.parseLong(m.group(2)), "malformed or unsupported content")
                : "not a tokenizer.json the Hugging Face tokenizers library can load";
    }

    private static String tokenText(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isTextual()) {
            return n.asText();
        }
        if (n.isObject() && n.has("content")) {
            return n.get("content").asText();
        }
        return null;
    }

    private static String chatTemplate(JsonNode n, Path file) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isTextual()) {
            return n.asText();
        }
        if (n.isArray()) { // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
            for (JsonNode t : n) {
                if ("default".equals(t.path("name").asText())) {
                    return t.path("template").asText();
                }
            }
            if (n.size() > 0) {
                return n.get(0).path("template").asText(null);
            }
            return null;
        }
        throw new Align4jException(file + ": key 'chat_template' must be a string or a list of {name, template}");
    }

    /** The id of a token given by its text, or null when it is not a single token of the vocabulary. */
    public Integer tokenId(String token) {
        return idOf(tokenizer, token);
    }

    private static Integer idOf(HuggingFaceTokenizer tok, String token) {
        Encoding e = tok.encode(token, false, false);
        long[] ids = e.getIds();
        return ids.length == 1 ? Integer.valueOf((int) ids[0]) : null;
    }

    /** The token ids of a text, with no special tokens added, no truncation and no padding. */
    public int[] encode(String text) {
        long[] ids = tokenizer.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    /** Decodes ids to text. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            l[i] = ids[i];
        }
        return tokenizer.decode(l, skipSpecialTokens);
    }

    /** The token strings of a text (for inspection). */
    public java.util.List<String> tokens(String text) {
        return java.util.Arrays.asList(tokenizer.encode(text, false, false).getTokens());
    }

    /** bos_token, eos_token, pad_token, ... from tokenizer_config.json, as text. */
    public Map<String, String> specialTokens() {
        return specialTokens;
    }

    /** The chat template of tokenizer_config.json, or null when it has none. */
    public String chatTemplate() {
        return chatTemplate;
    }

    public Integer bosId() {
        return bosId;
    }

    /** The id appended to every completion (TRL's DPOTrainer); null if neither config names one. */
    public Integer eosId() {
        return eosId;
    }

    public Integer padId() {
        return padId;
    }

    /** The folder the tokenizer came from. */
    public Path dir() {
        return dir;
    }

    /** True after {@link #close()}: the native tokenizer is gone and must not be used. */
    public boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        closed = true;
        tokenizer.close();
    }
}
