package io.github.align4j.spark;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.align4j.Align4jException;
import io.github.align4j.eval.Generator;
import io.github.align4j.eval.SamplingOptions;
import io.github.align4j.internal.Devices;
import io.github.align4j.internal.Texts;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelConfig;
import io.github.align4j.model.TextTokenizer;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.sql.SparkSession;
import org.slf4j.LoggerFactory;

/**
 * {@code align4j generate} on a Spark cluster: samples for a table of prompts (JSON Lines with a
 * {@code "prompt"} text field), the prompts spread over the tasks, one model per executor JVM (base
 * plus an optional LoRA adapter, on the task's GPU when Spark gave it one). Each prompt is sampled
 * with its own generator seeded by {@code seed}, as {@code align4j generate} does, so the output is
 * {@code align4j generate --json}'s: one line per (prompt, sample) with {@code prompt}, {@code sample},
 * {@code completion}, {@code tokens} and {@code finish_reason}, in the prompts' order.
 */
public final class SparkGenerate {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Longest prompt line read. */
    static final int MAX_LINE = 1 << 20;
    /** Most prompts in one table (each is a generation). */
    static final int MAX_PROMPTS = 10_000_000;

    private SparkGenerate() {}

    /**
     * What to sample, with the options of {@code align4j generate} (defaults: 128 new tokens, temperature 1,
     * top-p 1, top-k 0, seed 0, one sample).
     *
     * @param model the model folder (a path every executor sees)
     * @param adapter a LoRA adapter folder applied to it, or null
     * @param chatTemplate whether prompts go through the tokenizer's chat template (as without --no-chat-template)
     */
    public record Job(String model, String adapter, int maxNewTokens, double temperature, double topP, int topK, long seed,
            int numSamples, boolean chatTemplate) implements Serializable {
        private static final long serialVersionUID = 1L;

        public Job {
            sampling(maxNewTokens, temperature, topP, topK, seed, numSamples); // checks the values
        }

        private static SamplingOptions sampling(int maxNewTokens, double temperature, double topP, int topK, long seed,
                int numSamples) {
            return new SamplingOptions(maxNewTokens, temperature, topP, topK, seed, numSamples);
        }

        /** The sampling options. */
        public SamplingOptions sampling() {
            return sampling(maxNewTokens, temperature, topP, topK, seed, numSamples);
        }
    }

    /** Samples every prompt of {@code prompts} and writes the JSON lines to {@code out}; returns the lines written. */
    public static long run(SparkSession spark, Job job, Path prompts, Path out) {
        List<String> texts = readPrompts(prompts);
        int tasks = Math.max(1, Math.min(texts.size(), spark.sparkContext().defaultParallelism()));
        List<Integer> parts = new ArrayList<>();
        for (int i = 0; i < tasks; i++) {
            parts.add(i);
        }
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        spark.sparkContext().setJobDescription("align4j generate " + prompts + ": " + texts.size() + " prompts");
        List<String[]> lines = jsc.parallelize(parts, tasks).flatMap(new GenerateTask(job, texts, tasks)).collect();
        String[] byPrompt = new String[texts.size()];
        for (String[] l : lines) {
            byPrompt[Integer.parseInt(l[0])] = l[1];
        }
        long written = 0;
        Path abs = out.toAbsolutePath();
        try {
            Files.createDirectories(abs.getParent());
            Path tmp = Files.createTempFile(abs.getParent(), "." + abs.getFileName(), ".tmp");
            try {
                try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                    for (int i = 0; i < byPrompt.length; i++) {
                        if (byPrompt[i] == null) {
                            throw new Align4jException("the generate job returned nothing for prompt " + i + "; rerun it");
                        }
                        w.write(byPrompt[i]);
                        written += byPrompt[i].chars().filter(c -> c == '\n').count();
                    }
                }
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new Align4jException(out + ": cannot write the samples: " + e.getMessage(), e);
        }
        return written;
    }

    /** The prompts of a JSON Lines file (a "prompt" text per line; blank lines skipped), read with bounds. */
    static List<String> readPrompts(Path file) {
        List<String> out = new ArrayList<>();
        if (!Files.isRegularFile(file)) {
            throw new Align4jException("--data " + file + ": no such file (JSON Lines with a \"prompt\" text field)");
        }
        JsonLines.read(file, MAX_LINE, (where, n) -> {
            if (n == null || !n.path("prompt").isTextual()) {
                throw new Align4jException(where + ": no \"prompt\" text field");
            }
            if (out.size() >= MAX_PROMPTS) {
                throw new Align4jException(file + ": more than " + MAX_PROMPTS + " prompts; split the table");
            }
            out.add(n.get("prompt").asText());
        });
        if (out.isEmpty()) {
            throw new Align4jException(file + ": no prompts");
        }
        return out;
    }


    /** One task: prompts i with i mod tasks = its index; returns {i, its JSON lines}. */
    static final class GenerateTask implements FlatMapFunction<Integer, String[]> {
        private static final long serialVersionUID = 1L;
        private final Job job;
        private final List<String> prompts;
        private final int tasks;

        GenerateTask(Job job, List<String> prompts, int tasks) {
            this.job = job;
            this.prompts = new ArrayList<>(prompts);
            this.tasks = tasks;
        }

        @Override
        public Iterator<String[]> call(Integer part) throws IOException {
            TaskContext tc = TaskContext.get();
            Device device = Devices.resolve("cpu");
            if (tc != null) {
                ResourceInformation gpu = tc.resourcesJMap().get("gpu");
                if (gpu != null && gpu.addresses().length > 0) {
                    device = Devices.resolve("gpu:" + gpu.addresses()[0].trim());
                }
            }
            Path dir = Path.of(job.model());
            ModelConfig config = ModelConfig.load(dir);
            CausalLM lm = ExecutorModels.get(job.model(), job.adapter(), device, "generate");
            List<String[]> out = new ArrayList<>();
            SamplingOptions o = job.sampling();
            try (TextTokenizer tok = TextTokenizer.load(dir, config.eosTokenId())) {
                Generator g = new Generator(lm, tok);
                for (int i = part; i < prompts.size(); i += tasks) {
                    String prompt = prompts.get(i);
                    StringBuilder lines = new StringBuilder();
                    synchronized (lm) { // one generation at a time per model (tasks of one executor share it)
                        int[] promptIds = g.encodePrompt(prompt, job.chatTemplate());
                        List<int[]> ids = g.generate(promptIds, o);
                        for (int j = 0; j < ids.size(); j++) {
                            int[] c = ids.get(j);
                            ObjectNode n = JSON.createObjectNode();
                            n.put("prompt", prompt);
                            n.put("sample", j);
                            n.put("completion", g.decode(c));
                            n.put("tokens", c.length);
                            boolean full = c.length >= o.maxNewTokens()
                                    || Math.max(1, promptIds.length) + c.length >= config.maxPositions();
                            n.put("finish_reason", full ? "length" : "stop");
                            lines.append(JSON.writeValueAsString(n)).append('\n');
                        }
                    }
                    out.add(new String[] {Integer.toString(i), lines.toString()});
                }
            }
            LoggerFactory.getLogger(SparkGenerate.class).info(String.format(Locale.ROOT, "generate: task %d sampled %d prompts",
                    part, out.size()));
            return out.iterator();
        }
    }
}
