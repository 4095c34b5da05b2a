package io.github.align4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.align4j.Align4jException;
import java.io.BufferedWriter;
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MT-Bench answer files are untrusted: read line by line with a line and a file cap, and a model
 * id (which names files and heads the report and the plot) is 1 to 200 printable characters. A
 * refusal comes before the judge is asked anything, in bounded time and memory.
 */
class MtBenchBoundsTest {
    @TempDir
    Path dir;

    /** A FastChat answer row for each of MtBenchTest's questions, with this model id (written as given: JSON-escaped). */
    Path answers(String name, String modelIdJson) throws Exception {
        Path f = dir.resolve(name);
        try (BufferedWriter w = Files.newBufferedWriter(f, StandardCharsets.UTF_8)) {
            for (int id : MtBenchTest.IDS) {
                w.write("{\"question_id\": " + id + ", \"model_id\": \"");
                w.write(modelIdJson);
                w.write("\", \"choices\": [{\"index\": 0, \"turns\": [\"ans-" + id + "-1\", \"ans-" + id + "-2\"]}]}\n");
            }
        }
        return f;
    }

    MtBench.Options options(Path answers, JudgeServer s, String out) {
        return MtBench.Options.forAnswers(answers).questionIds(MtBenchTest.IDS)
                .judge(ChatClient.Options.of(s.url(), "judge-x")).output(dir.resolve(out));
    }

    String refused(MtBench.Options o) {
        return assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> assertThrows(Align4jException.class, () -> MtBench.run(o, null)).getMessage());
    }

    /** Bytes this thread allocated while running r (HotSpot's per-thread counter). */
    static long allocated(Runnable r) {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long id = Thread.currentThread().getId();
        long before = mx.getThreadAllocatedBytes(id);
        r.run();
        return mx.getThreadAllocatedBytes(id) - before;
    }

    @Test
    void aMegabyteModelIdIsRefusedBeforeJudgingAndAShortOneReplacesIt() throws Exception {
        Path f = answers("huge-id.jsonl", "m".repeat(1_000_000));
        try (JudgeServer s = new JudgeServer(MtBenchTest::singleJudge)) {
            assertEquals(f + ": 'model_id': a model id of 1,000,000 characters; it names files and heads the report, so it "
                    + "has 1 to 200; name the model with --model-id (or --baseline-id)", refused(options(f, s, "o1")));
            assertEquals(0, s.requests());
            assertFalse(Files.exists(dir.resolve("o1")), "a refused answers file leaves no output folder");
            // named on the command line, the same answers are judged, and the report and plot carry the short name
            MtBench.Result r = assertTimeoutPreemptively(Duration.ofSeconds(20),
                    () -> MtBench.run(options(f, s, "o2").modelId("m1"), null));
            assertEquals("m1", r.modelId());
            assertEquals(5.9, r.scores().mean(), 1e-12);
            assertTrue(Files.readString(dir.resolve("o2/results.md")).startsWith("# MT-Bench: m1\n"));
            for (Path p : r.files()) {
                assertTrue(Files.size(p) < 1_000_000, p + ": " + Files.size(p) + " bytes");
            }
        }
    }

    @Test
    void modelIdsWithControlCharactersOrOverTwoHundredCharactersAreRefused() throws Exception {
        Path esc = answers("esc.jsonl", "m1\\u001b[2J\\u001b[31mPWNED");
        try (JudgeServer s = new JudgeServer(MtBenchTest::singleJudge)) {
            assertEquals(esc + ": 'model_id': the model id holds control characters; name the model with --model-id "
                    + "(or --baseline-id)", refused(options(esc, s, "o1")));
            assertEquals("--model-id: a model id of 201 characters; it names files and heads the report, so it has 1 to 200; "
                    + "choose a short name", refused(options(answers("ok.jsonl", "m1"), s, "o2").modelId("x".repeat(201))));
            assertEquals("--baseline-id: the model id holds control characters; choose a short name",
                    refused(options(answers("ok.jsonl", "m1"), s, "o3").mode(MtBench.Mode.PAIRWISE)
                            .baseline(answers("b.jsonl", "b")).baselineId("b\nforged line")));
            assertEquals(0, s.requests());
        }
        // file names: at most 200 characters, nothing but letters, digits, '.', '_', '-'
        assertEquals("_".repeat(200), MtBenchData.fileName("é/".repeat(500)));
        assertEquals("_..", MtBenchData.fileName(".."));
    }

    @Test
    void aTwentyMegabyteAnswerLineIsRefusedAfterItsFirstMegabyte() throws Exception {
        Path f = dir.resolve("long-line.jsonl");
        try (BufferedWriter w = Files.newBufferedWriter(f, StandardCharsets.UTF_8)) {
            w.write("{\"question_id\": 81, \"model_id\": \"m1\", \"choices\": [{\"turns\": [\"");
            char[] block = new char[1 << 16];
            java.util.Arrays.fill(block, 'a');
            for (int i = 0; i < 320; i++) { // 20 MiB
                w.write(block);
            }
            w.write("\", \"b\"]}]}\n");
        }
        try (JudgeServer s = new JudgeServer(MtBenchTest::singleJudge)) {
            MtBench.Options o = options(f, s, "o1");
            refused(options(answers("warm.jsonl", "x\\u0007"), s, "warm")); // loads the classes outside the count
            AtomicLong bytes = new AtomicLong();
            String m = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
                String[] msg = new String[1];
                bytes.set(allocated(() -> msg[0] = assertThrows(Align4jException.class, () -> MtBench.run(o, null))
                        .getMessage()));
                return msg[0];
            });
            assertEquals(f + " line 1: longer than 1,048,576 bytes; an answer row of FastChat's model_answer layout is a "
                    + "few KB. Check the file", m);
            assertTrue(bytes.get() < 12_000_000, "read to the line's cap, not whole: " + bytes.get() + " bytes allocated");
            assertEquals(0, s.requests());
        }
    }

    @Test
    void aFortyMegabyteAnswersFileIsRefusedWithoutReadingIt() throws Exception {
        Path f = answers("big.jsonl", "m1");
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(40L << 20); // the rows, then a sparse tail
        }
        try (JudgeServer s = new JudgeServer(MtBenchTest::singleJudge)) {
            assertEquals(f + ": larger than 33,554,432 bytes; FastChat's model_answer file of the 80 questions is under "
                    + "5 MB. Check the path", refused(options(f, s, "o1")));
            assertEquals(0, s.requests());
        }
        // read line by line as before: CRLF endings, blank lines, a last line without a newline
        Path crlf = answers("crlf.jsonl", "m1");
        String text = Files.readString(crlf).replace("\n", "\r\n\r\n");
        Files.writeString(crlf, text.substring(0, text.length() - 4));
        MtBenchData.Answers a = MtBenchData.readAnswers(crlf, false);
        assertEquals(List.of(81, 101, 111), List.copyOf(a.turns().keySet()));
        assertEquals(List.of("ans-111-1", "ans-111-2"), a.turns().get(111));
        assertEquals("m1", a.modelId());
        Files.write(crlf, new byte[] {'\n', '{', '"', (byte) 0xc3, '"', '}', '\n'});
        assertEquals(crlf + " line 2: not UTF-8 text; save the file as UTF-8",
                assertThrows(Align4jException.class, () -> MtBenchData.readAnswers(crlf, false)).getMessage());
    }
}
