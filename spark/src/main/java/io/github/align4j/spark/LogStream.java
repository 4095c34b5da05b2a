package io.github.align4j.spark;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;

/** A PrintStream whose lines go to an SLF4J logger at INFO: align4j's console messages in Spark's logs. */
final class LogStream extends OutputStream {
    private final Logger log;
    private final String prefix;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();

    private LogStream(Logger log, String prefix) {
        this.log = log;
        this.prefix = prefix;
    }

    static PrintStream of(Logger log, String prefix) {
        return new PrintStream(new LogStream(log, prefix), true, StandardCharsets.UTF_8);
    }

    @Override
    public synchronized void write(int b) {
        if (b == '\n' || b == '\r') {
            flushLine();
        } else if (line.size() < 16_384) {
            line.write(b);
        }
    }

    private void flushLine() {
        if (line.size() > 0) {
            log.info("{}{}", prefix, line.toString(StandardCharsets.UTF_8));
            line.reset();
        }
    }

    @Override
    public synchronized void flush() {
        // lines are logged when they end
    }

    @Override
    public synchronized void close() {
        flushLine();
    }
}
