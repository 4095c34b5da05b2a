package io.github.align4j.cli;

import static io.github.align4j.cli.InitCommandTest.assertUserError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A downloaded model, adapter or dataset folder is untrusted: a file in it that is a link to a
 * secret ({@code config.json -> ~/.cache/huggingface/token}) is refused without reading it, a file
 * that is not JSON is described by line and column without quoting it, and names from its files
 * (a tensor name) reach the terminal with their control characters escaped. Run through the
 * command line's entry point, stdout and stderr captured.
 */
class HostileLinksTest {
    /** What the linked "token file" holds: it must never appear in anything align4j prints. */
    private static final String CANARY = "hf_FAKEtokenDoNotPrint0123456789";

    @TempDir
    static Path dir;

    static Path model;
    static Path secret;
    static Path adapter;
    static Path pairs;

    @BeforeAll
    static void makeModelAndSecret() throws IOException {
        model = dir.resolve("model");
        Cli.Result r = Cli.run("init", "--model-type", "llama", "--out", model.toString(), "--seed", "3");
        assertEquals(0, r.exit(), r.toString());
        Path home = Files.createDirectories(dir.resolve("home/.cache/huggingface"));
        secret = Files.writeString(home.resolve("token"), CANARY + "\n");
        adapter = Files.createDirectories(dir.resolve("adapter"));
        Files.writeString(adapter.resolve("adapter_config.json"), "{\"peft_type\": \"LORA\", \"task_type\": \"CAUSAL_LM\", "
                + "\"r\": 2, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\"]}");
        pairs = Files.writeString(dir.resolve("pairs.jsonl"), "{\"prompt\": \"Hi\", \"chosen\": \" yes\", \"rejected\": \" no\"}\n");
    }

    /** A copy of {@code from} (files only) in a new folder, with {@code name} replaced by a link to {@code target}. */
    static Path copyWithLink(Path from, String folder, String name, Path target) throws IOException {
        Path to = Files.createDirectories(dir.resolve(folder));
        try (Stream<Path> s = Files.list(from)) {
            for (Path f : s.toList()) {
                if (Files.isRegularFile(f)) {
                    Files.copy(f, to.resolve(f.getFileName()));
                }
            }
        }
        if (name != null) {
            Files.deleteIfExists(to.resolve(name));
            Files.createSymbolicLink(to.resolve(name), target);
        }
        return to;
    }

    static void assertNoCanary(Cli.Result r) {
        assertFalse(r.out().contains("hf_FAKE") || r.err().contains("hf_FAKE"), "the linked file's content was printed: " + r);
    }

    static Cli.Result logprobs(String... args) {
        String[] all = java.util.Arrays.copyOf(new String[] {"logprobs", "--cache-dir", dir.resolve("cache").toString()}, 3 + args.length);
        System.arraycopy(args, 0, all, 3, args.length);
        return Cli.run(all);
    }

    static Cli.Result generate(Path modelDir, String... more) {
        String[] base = {"generate", "--model", modelDir.toString(), "--prompt", "Hi", "--max-new-tokens", "1", "--device", "cpu"};
        String[] all = java.util.Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return Cli.run(all);
    }

    @Test
    void modelFilesLinkedToASecretAreRefusedWithoutReadingThem() throws Exception {
        for (String name : List.of("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors")) {
            Path linked = copyWithLink(model, "linked-" + name, name, secret);
            Cli.Result r = generate(linked);
            assertUserError(r, linked.resolve(name).toString(), "is a symbolic link that leaves the", secret.toRealPath().toString(),
                    "copy it into the folder");
            assertNoCanary(r);
            r = logprobs("--model", linked.toString(), "--data", pairs.toString(), "--out",
                    dir.resolve("out-" + name + ".jsonl").toString(), "--device", "cpu");
            assertUserError(r, linked.resolve(name).toString(), "leaves the");
            assertNoCanary(r);
        }
        // a relative link that climbs out is the same
        Path climbing = copyWithLink(model, "climbing", "config.json", Path.of("../home/.cache/huggingface/token"));
        Cli.Result r = generate(climbing);
        assertUserError(r, "config.json", "leaves the model folder");
        assertNoCanary(r);
    }

    @Test
    void anAdapterConfigLinkedToASecretIsRefusedByMergeAndGenerate() throws Exception {
        Path linked = copyWithLink(adapter, "adapter-linked", "adapter_config.json", secret);
        Cli.Result r = Cli.run("merge", "--model", model.toString(), "--adapter", linked.toString(), "--out",
                dir.resolve("merged-linked").toString());
        assertUserError(r, "adapter_config.json", "leaves the adapter folder");
        assertNoCanary(r);
        r = generate(model, "--adapter", linked.toString());
        assertUserError(r, "adapter_config.json", "leaves the adapter folder");
        assertNoCanary(r);
    }

    @Test
    void filesThatAreNotJsonAreDescribedByPlaceNotQuoted() throws Exception {
        Path cfg = copyWithLink(model, "bad-config", null, null);
        Files.writeString(cfg.resolve("config.json"), "{\"model_type\": \"llama\",\n  \"x\": " + CANARY + "}");
        Cli.Result r = generate(cfg);
        assertUserError(r, cfg.resolve("config.json") + ": not valid JSON at line 2, column", "(malformed JSON)");
        assertNoCanary(r);

        Path tok = copyWithLink(model, "bad-tokenizer-config", null, null);
        Files.writeString(tok.resolve("tokenizer_config.json"), CANARY);
        r = generate(tok);
        assertUserError(r, "tokenizer_config.json: not valid JSON at line 1, column");
        assertNoCanary(r);

        Path tokJson = copyWithLink(model, "bad-tokenizer-json", null, null);
        Files.writeString(tokJson.resolve("tokenizer.json"), "{\"version\": \"1.0\", \"model\": {\"type\": \"" + CANARY + "\"}}");
        r = generate(tokJson);
        assertUserError(r, "tokenizer.json: cannot read the tokenizer: not a tokenizer.json");
        assertNoCanary(r);

        Path ad = copyWithLink(adapter, "bad-adapter", null, null);
        Files.writeString(ad.resolve("adapter_config.json"), "{\"r\": " + CANARY + "}");
        r = Cli.run("merge", "--model", model.toString(), "--adapter", ad.toString(), "--out", dir.resolve("merged-bad").toString());
        assertUserError(r, "adapter_config.json: not valid JSON at line 1, column", "(malformed JSON)");
        assertNoCanary(r);
    }

    @Test
    void theHuggingFaceCacheLayoutOfLinksIntoBlobsStillLoads() throws Exception {
        Path repo = dir.resolve("hub/models--tiny");
        Path blobs = Files.createDirectories(repo.resolve("blobs"));
        Path snapshot = Files.createDirectories(repo.resolve("snapshots/0123abc"));
        int i = 0;
        try (Stream<Path> s = Files.list(model)) {
            for (Path f : s.filter(Files::isRegularFile).toList()) {
                Path blob = Files.copy(f, blobs.resolve("blob" + i++));
                Files.createSymbolicLink(snapshot.resolve(f.getFileName()), Path.of("../../blobs").resolve(blob.getFileName()));
            }
        }
        Cli.Result r = generate(snapshot);
        assertEquals(0, r.exit(), r.toString());
        // but a snapshot link into another repository's blobs is not the cache's layout
        Path other = Files.createDirectories(dir.resolve("hub/models--other/blobs"));
        Files.copy(model.resolve("config.json"), other.resolve("cfg"));
        Files.delete(snapshot.resolve("config.json"));
        Files.createSymbolicLink(snapshot.resolve("config.json"), other.resolve("cfg"));
        assertUserError(generate(snapshot), "config.json", "leaves the model folder");
    }

    @Test
    void aFifoInAModelFolderIsRefusedInsteadOfHanging() throws Exception {
        Path withFifo = copyWithLink(model, "fifo-model", null, null);
        Files.delete(withFifo.resolve("tokenizer_config.json"));
        Process p = new ProcessBuilder("mkfifo", withFifo.resolve("tokenizer_config.json").toString()).start();
        assumeTrue(p.waitFor() == 0, "mkfifo is not available");
        Cli.Result r = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> generate(withFifo));
        assertUserError(r, "tokenizer_config.json", "not a regular file (a FIFO, device or socket)");
    }

    @Test
    void aDatasetFolderMayNotLinkOutButANamedFileMay() throws Exception {
        Path outside = Files.writeString(dir.resolve("elsewhere.jsonl"), Files.readString(pairs));
        Path data = Files.createDirectories(dir.resolve("dataset"));
        Files.createSymbolicLink(data.resolve("train.jsonl"), outside);
        Cli.Result r = logprobs("--model", model.toString(), "--data", data.toString(), "--out",
                dir.resolve("data-out.jsonl").toString(), "--device", "cpu");
        assertUserError(r, data.resolve("train.jsonl").toString(), "leaves the dataset folder");
        r = logprobs("--model", model.toString(), "--data", data + "/*.jsonl", "--out",
                dir.resolve("glob-out.jsonl").toString(), "--device", "cpu");
        assertUserError(r, "leaves the dataset folder");
        // the user names the link: their choice
        r = logprobs("--model", model.toString(), "--data", data.resolve("train.jsonl").toString(), "--out",
                dir.resolve("named-out.jsonl").toString(), "--device", "cpu");
        assertEquals(0, r.exit(), r.toString());
    }

    @Test
    void controlCharactersOfATensorNameAreEscapedOnTheTerminal() throws Exception {
        Path evil = copyWithLink(model, "evil-tensor", null, null);
        String name = "\u001b]0;owned\u0007\u001b[2Jmodel.weight";
        byte[] header = ("{\"" + name.replace("\u001b", "\\u001b").replace("\u0007", "\\u0007")
                + "\": {\"dtype\": \"Q9\", \"shape\": [1], \"data_offsets\": [0, 4]}}").getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header).putInt(0);
        Files.write(evil.resolve("model.safetensors"), b.array());
        Cli.Result r = generate(evil);
        assertUserError(r, "\\u001b]0;owned\\u0007\\u001b[2Jmodel.weight");
        assertFalse(r.err().contains("\u001b") || r.err().contains("\u0007"), "raw control characters reached the terminal: " + r);
        assertTrue(r.err().endsWith("\n"), r.err());
    }

    @Test
    void inspectShowsARowsControlCharactersEscaped() throws Exception {
        Path f = Files.writeString(dir.resolve("esc.jsonl"),
                "{\"prompt\": \"Hi\\u001b[2J\\u0007\", \"chosen\": \" yes\\tok\", \"rejected\": \" no\"}\n");
        Cli.Result r = Cli.run("inspect", "--model", model.toString(), "--data", f.toString(), "--cache-dir",
                dir.resolve("cache").toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("Hi\\u001b[2J\\u0007"), r.out());
        assertFalse(r.out().contains("\u001b") || r.out().contains("\u0007"), "raw control characters on stdout: " + r);
    }

    @Test
    void mergeCopiesNoLinkedTokenizerFileIntoItsOutput() throws Exception {
        Path good = dir.resolve("good-adapter");
        try (io.github.align4j.model.CausalLM lm = io.github.align4j.model.CausalLM.load(model,
                new io.github.align4j.model.CausalLM.Options(ai.djl.Device.cpu(), false, ai.djl.ndarray.types.DataType.FLOAT32))) {
            lm.addAdapters(new io.github.align4j.model.LoraConfig(2, 4, 0, List.of("q_proj"), false), 1);
            lm.saveAdapter(good);
        }
        Path base = copyWithLink(model, "merge-base", "special_tokens_map.json", secret);
        Path out = dir.resolve("merged-out");
        Cli.Result r = Cli.run("merge", "--model", base.toString(), "--adapter", good.toString(), "--out", out.toString());
        assertUserError(r, "special_tokens_map.json", "leaves the tokenizer folder");
        assertNoCanary(r);
        if (Files.isDirectory(out)) { // refused before anything is written
            try (Stream<Path> s = Files.list(out)) {
                assertEquals(List.of(), s.toList());
            }
        }
        // the same base without the link merges
        Files.delete(base.resolve("special_tokens_map.json"));
        r = Cli.run("merge", "--model", base.toString(), "--adapter", good.toString(), "--out", dir.resolve("merged-ok").toString());
        assertEquals(0, r.exit(), r.toString());
    }

    @Test
    void initRefusesALinkedTokenizerFileBeforeWriting() throws Exception {
        Path tok = copyWithLink(model, "init-tokenizer", "special_tokens_map.json", secret);
        Path out = dir.resolve("init-out");
        Cli.Result r = Cli.run("init", "--model-type", "llama", "--tokenizer", tok.toString(), "--out", out.toString());
        assertUserError(r, "special_tokens_map.json", "leaves the tokenizer folder");
        assertNoCanary(r);
        assertFalse(Files.exists(out), "init removes the folder it created and wrote nothing into");
    }
}
