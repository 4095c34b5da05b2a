package io.github.align4j.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * The demo's task, generated from a seed: product reviews, as in the DPO paper's controlled
 * sentiment generation (IMDb reviews with a sentiment classifier standing in for human raters).
 *
 * <p>A prompt is {@code review of the <modifier> <product> :}; a completion is one to three
 * sentences of a small grammar ({@link ReviewJudge} lists the sentence forms) whose adjectives,
 * verbs and adverbs are positive, negative or neutral. The SFT corpus mixes moods (mostly
 * positive, mixed and mostly negative reviews, with a per-product lean) and puts a wrong product
 * into a few reviews, so that a model trained on it writes fluent reviews of mixed quality: that
 * is what preference tuning has to improve. All text is lower case with punctuation as separate
 * words, so a word-level tokenizer reproduces it exactly.
 *
 * <p>Prompts are the 16 × 12 product × modifier combinations; a quarter of them (chosen so that
 * every product and every modifier still occurs in training) are held out: they appear neither in
 * the SFT corpus nor in the preference data, only in the evaluation.
 */
final class DemoCorpus {
    static final List<String> PRODUCTS = List.of("phone", "laptop", "camera", "blender", "kettle", "lamp", "chair",
            "backpack", "watch", "speaker", "toaster", "drill", "jacket", "tent", "printer", "mixer");
    static final List<String> MODIFIERS = List.of("red", "blue", "black", "white", "green", "silver", "grey", "pink",
            "small", "large", "new", "old");
    static final List<String> ASPECTS = List.of("price", "design", "quality", "battery", "screen", "finish", "size",
            "sound");
    static final List<String> POSITIVE_ADJECTIVES = List.of("great", "good", "excellent", "solid", "lovely", "sturdy",
            "perfect", "nice");
    static final List<String> NEGATIVE_ADJECTIVES = List.of("bad", "poor", "awful", "flimsy", "terrible", "weak", "noisy",
            "ugly");
    static final List<String> NEUTRAL_ADJECTIVES = List.of("okay", "fine", "average");
    static final List<String> POSITIVE_VERBS = List.of("love", "like", "recommend", "enjoy");
    static final List<String> NEGATIVE_VERBS = List.of("hate", "dislike", "regret", "returned");
    static final List<String> POSITIVE_ADVERBS = List.of("well", "perfectly", "nicely");
    static final List<String> NEGATIVE_ADVERBS = List.of("poorly", "badly");
    static final List<String> NEUTRAL_ADVERBS = List.of("okay");
    static final List<String> INTENSIFIERS = List.of("very", "really");
    static final List<String> FUNCTION_WORDS = List.of("review", "of", "the", ":", "is", "i", "it", "works", "overall",
            ".");

    /** Special tokens, ids 0–3. */
    static final String UNK = "<unk>";
    static final String BOS = "<s>";
    static final String EOS = "</s>";
    static final String PAD = "<pad>";
    static final int EOS_ID = 2;

    /** One prompt of the task. */
    record Prompt(String text, String product, String modifier, boolean heldOut) {}

    /** One SFT example: prompt and completion text. */
    record Example(String prompt, String completion) {}

    private DemoCorpus() {}

    /** All 192 prompts, in a fixed order; a quarter are held out. */
    static List<Prompt> prompts() {
        List<Prompt> out = new ArrayList<>();
        for (int p = 0; p < PRODUCTS.size(); p++) {
            for (int m = 0; m < MODIFIERS.size(); m++) {
                String product = PRODUCTS.get(p);
                String modifier = MODIFIERS.get(m);
                // a Latin-square pattern: 3 of 12 modifiers per product, 4 of 16 products per modifier
                boolean heldOut = (p + 3 * m) % 4 == 0;
                out.add(new Prompt(promptText(modifier, product), product, modifier, heldOut));
            }
        }
        return out;
    }

    static String promptText(String modifier, String product) {
        return "review of the " + modifier + " " + product + " :";
    }

    static List<Prompt> trainPrompts() {
        return prompts().stream().filter(p -> !p.heldOut()).toList();
    }

    static List<Prompt> heldOutPrompts() {
        return prompts().stream().filter(Prompt::heldOut).toList();
    }

    /** The SFT corpus: {@code perPrompt} reviews of every training prompt, shuffled. */
    static List<Example> sftCorpus(long seed, int perPrompt) {
        Random r = new Random(seed);
        List<Example> out = new ArrayList<>();
        for (Prompt p : trainPrompts()) {
            for (int k = 0; k < perPrompt; k++) {
                out.add(new Example(p.text(), review(r, p.product())));
            }
        }
        java.util.Collections.shuffle(out, r);
        return out;
    }

    /**
     * The probability that a sentence about this product is positive, given the review's mood.
     * Products lean: the first four are mostly praised, the last four mostly criticised.
     */
    static double positiveProbability(String product, int mood) {
        double base = switch (mood) {
            case 0 -> 0.85; // happy customer
            case 1 -> 0.5;  // mixed feelings
            default -> 0.15; // unhappy customer
        };
        int i = PRODUCTS.indexOf(product);
        double lean = i < 4 ? 0.1 : i >= PRODUCTS.size() - 4 ? -0.1 : 0;
        return Math.max(0.05, Math.min(0.95, base + lean));
    }

    /** One review of the grammar. */
    static String review(Random r, String product) {
        int mood = r.nextInt(3);
        double pos = positiveProbability(product, mood);
        int sentences = 1 + r.nextInt(3);
        // A few reviews name a wrong product (fluent, but off topic).
        String named = r.nextDouble() < 0.08 ? other(r, product) : product;
        StringBuilder sb = new StringBuilder();
        for (int s = 0; s < sentences; s++) {
            double u = r.nextDouble();
            int polarity = u < 0.12 ? 0 : r.nextDouble() < pos ? 1 : -1;
            int form = s == 0 && r.nextDouble() < 0.75 ? 0 : r.nextInt(5);
            if (sb.length() > 0) {
                sb.append(' ');
            }
            sb.append(sentence(r, form, polarity, named));
        }
        return sb.toString();
    }

    private static String other(Random r, String product) {
        String o;
        do {
            o = PRODUCTS.get(r.nextInt(PRODUCTS.size()));
        } while (o.equals(product));
        return o;
    }

    private static String sentence(Random r, int form, int polarity, String product) {
        String intens = polarity != 0 && r.nextDouble() < 0.3 ? INTENSIFIERS.get(r.nextInt(INTENSIFIERS.size())) + " " : "";
        switch (form) {
            case 0:
                return "the " + product + " is " + intens + adjective(r, polarity) + " .";
            case 1:
                return "the " + ASPECTS.get(r.nextInt(ASPECTS.size())) + " is " + intens + adjective(r, polarity) + " .";
            case 2:
                if (polarity == 0) {
                    return "it works " + pick(r, NEUTRAL_ADVERBS) + " .";
                }
                return "i " + (intens.startsWith("really") ? "really " : "")
                        + pick(r, polarity > 0 ? POSITIVE_VERBS : NEGATIVE_VERBS) + " it .";
            case 3:
                return "it works " + pick(r, polarity > 0 ? POSITIVE_ADVERBS : polarity < 0 ? NEGATIVE_ADVERBS
                        : NEUTRAL_ADVERBS) + " .";
            default:
                return "overall it is " + intens + adjective(r, polarity) + " .";
        }
    }

    private static String adjective(Random r, int polarity) {
        return pick(r, polarity > 0 ? POSITIVE_ADJECTIVES : polarity < 0 ? NEGATIVE_ADJECTIVES : NEUTRAL_ADJECTIVES);
    }

    private static String pick(Random r, List<String> words) {
        return words.get(r.nextInt(words.size()));
    }

    /** Every word of the task after the four special tokens, in a fixed order (ids 4, 5, ...). */
    static List<String> vocabulary() {
        Set<String> v = new LinkedHashSet<>();
        v.addAll(FUNCTION_WORDS);
        v.addAll(PRODUCTS);
        v.addAll(MODIFIERS);
        v.addAll(ASPECTS);
        v.addAll(POSITIVE_ADJECTIVES);
        v.addAll(NEGATIVE_ADJECTIVES);
        v.addAll(NEUTRAL_ADJECTIVES);
        v.addAll(POSITIVE_VERBS);
        v.addAll(NEGATIVE_VERBS);
        v.addAll(POSITIVE_ADVERBS);
        v.addAll(NEGATIVE_ADVERBS);
        v.addAll(NEUTRAL_ADVERBS);
        v.addAll(INTENSIFIERS);
        return new ArrayList<>(v);
    }

    /** Vocabulary size including the special tokens. */
    static int vocabSize() {
        return 4 + vocabulary().size();
    }

    /**
     * Writes a word-level Hugging Face tokenizer of the task's vocabulary ({@code tokenizer.json}
     * with a WhitespaceSplit pre-tokenizer, and {@code tokenizer_config.json} naming the special
     * tokens) into dir.
     */
    static void writeTokenizer(Path dir) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        String[] specials = {UNK, BOS, EOS, PAD};
        for (int i = 0; i < specials.length; i++) {
            ObjectNode t = added.addObject();
            t.put("id", i);
            t.put("content", specials[i]);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "WhitespaceSplit");
        root.putNull("post_processor");
        root.putNull("decoder"); // no decoder: tokens are joined with single spaces
        ObjectNode model = root.putObject("model");
        model.put("type", "WordLevel");
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < specials.length; i++) {
            vocab.put(specials[i], i);
        }
        List<String> words = vocabulary();
        for (int i = 0; i < words.size(); i++) {
            vocab.put(words.get(i), 4 + i);
        }
        model.put("unk_token", UNK);
        ObjectNode cfg = json.createObjectNode();
        cfg.put("bos_token", BOS);
        cfg.put("eos_token", EOS);
        cfg.put("pad_token", PAD);
        cfg.put("unk_token", UNK);
        cfg.put("model_max_length", 64);
        cfg.put("tokenizer_class", "PreTrainedTokenizerFast");
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("tokenizer.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(root));
            Files.writeString(dir.resolve("tokenizer_config.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(cfg));
        } catch (IOException e) {
            throw new Align4jException(dir + ": cannot write the demo tokenizer: " + e.getMessage(), e);
        }
    }

    /**
     * A Llama-family config.json for the demo model.
     *
     * @param hidden hidden size (the MLP is 2× wider)
     * @param layers decoder layers
     */
    static String modelConfigJson(int hidden, int layers) {
        int heads = Math.max(1, hidden / 16);
        return "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"vocab_size\":" + vocabSize()
                + ",\"hidden_size\":" + hidden + ",\"intermediate_size\":" + (2 * hidden)
                + ",\"num_hidden_layers\":" + layers + ",\"num_attention_heads\":" + heads
                + ",\"num_key_value_heads\":" + heads + ",\"max_position_embeddings\":64,\"rms_norm_eps\":1e-5"
                + ",\"rope_theta\":10000.0,\"hidden_act\":\"silu\",\"tie_word_embeddings\":true"
                + ",\"bos_token_id\":1,\"eos_token_id\":" + EOS_ID + ",\"pad_token_id\":3,\"torch_dtype\":\"float32\"}";
    }
}
