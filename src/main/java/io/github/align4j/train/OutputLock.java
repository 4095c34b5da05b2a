package io.github.align4j.train;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;

/** Holds OUTPUT/.align4j.lock so that two runs never write one folder; released on close. */
final class OutputLock implements AutoCloseable {
    static final OutputLock NONE = new OutputLock(null, null);
    private final FileChannel channel;
    private final FileLock lock;

    OutputLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Releases the lock. The file stays: it records what align4j wrote, and deleting it would
     * let a run that opened it just before lock a file no later run can see.
     */
    @Override
    public void close() {
        if (channel == null) {
            return;
        }
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            // the OS releases the lock when the process ends
        }
    }
}
