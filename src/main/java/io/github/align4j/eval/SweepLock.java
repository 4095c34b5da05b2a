package io.github.align4j.eval;

import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Holds OUTPUT/{@value Sweep#LOCK} while a sweep runs, so that a second sweep on the same output
 * folder stops at once with a sweep-level message instead of at its first cell's trainer lock.
 * The file stays after the sweep (an empty file align4j wrote); the OS releases the lock when the
 * process ends.
 */
final class SweepLock implements AutoCloseable {
    private final FileChannel channel;
    private final FileLock lock;

    private SweepLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Creates the output folder and locks it for this sweep, or refuses when another sweep holds it. */
    static SweepLock acquire(Path output) {
        return acquire(output, output.resolve(Sweep.LOCK));
    }

    /**
     * Locks one shard of a sweep ({@code .align4j-sweep-shard-I-of-N.lock}): the shards of an array job run at
     * once on one output folder, each run in its own folder, but no shard runs twice at once.
     */
    static SweepLock acquire(Path output, Sweep.Shard shard) {
        return acquire(output, output.resolve(".align4j-sweep-shard-" + shard.index() + "-of-" + shard.count() + ".lock"));
    }

    private static SweepLock acquire(Path output, Path file) {
        FileChannel ch = null;
        try {
            Files.createDirectories(output);
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
            FileLock l = ch.tryLock();
            if (l == null) {
                throw busy(output, file, "another align4j sweep (another process)");
            }
            return new SweepLock(ch, l);
        } catch (OverlappingFileLockException e) {
            close(ch);
            throw busy(output, file, "another sweep in this process");
        } catch (IOException e) {
            close(ch);
            if (Files.isSymbolicLink(file)) {
                throw new Align4jException(file + " is a symbolic link; align4j never follows links inside the output "
                        + "folder. Remove it, or choose another folder.");
            }
            throw new Align4jException(output + ": cannot create or lock the sweep's output folder (" + e.getClass()
                    .getSimpleName() + "); choose a folder you can write to", e);
        } catch (RuntimeException e) {
            close(ch);
            throw e;
        }
    }

    private static Align4jException busy(Path output, Path file, String who) {
        return new Align4jException(output + ": " + who + " is running on this output folder (it holds " + file.getFileName()
                + "); wait for it to finish, or give this sweep another output folder (--output DIR)");
    }

    private static void close(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // nothing was locked
            }
        }
    }

    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            // the OS releases the lock when the process ends
        }
    }
}
