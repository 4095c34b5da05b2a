package io.github.align4j.internal;

import io.github.align4j.Align4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Files read from inside a folder that came from somewhere else (a downloaded model, adapter or
 * dataset folder). Such a folder may hold a symbolic link to a file outside it, such as
 * {@code config.json -> ~/.cache/huggingface/token}, or to a FIFO or device that never ends; reading
 * it would read (and, through a parser's error message, print) another file's content, or hang.
 * {@link #inside} refuses those, naming the file and where its link points, never the target's
 * content. Not part of align4j's API.
 */
public final class FolderFiles {
    private FolderFiles() {}

    /**
     * {@code file}, unchanged, once it is known to stay inside {@code folder}: either it does not
     * exist (the caller reports a missing file its own way), or its real path (links resolved) lies
     * under the folder's real path and is a regular file or a folder. A link into the blob store of a
     * Hugging Face cache ({@code models--x/snapshots/<rev>/config.json -> ../../blobs/<sha>}) is
     * allowed: that is how {@code huggingface_hub} lays out every downloaded model.
     *
     * @param folder the folder the user gave (itself may be a link: that was the user's choice)
     * @param file a path under {@code folder}
     * @param what what the folder is, for the message, e.g. "model folder"
     * @throws Align4jException when the file leads outside the folder or is a FIFO, device or socket
     */
    public static Path inside(Path folder, Path file, String what) {
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            return file;
        }
        Path realFolder;
        try {
            realFolder = folder.toRealPath();
        } catch (IOException e) {
            return file; // the folder itself is gone: reading the file fails with its own message
        }
        Path real;
        try {
            real = file.toRealPath();
        } catch (IOException e) {
            throw new Align4jException(file + ": is a symbolic link to " + linkTarget(file) + ", which does not exist. "
                    + "Replace the link with the file itself.");
        }
        if (!real.startsWith(realFolder) && !inHubBlobs(realFolder, real)) {
            throw new Align4jException(file + ": is a symbolic link that leaves the " + what + " " + folder + " (it points to "
                    + real + ", which " + (Files.isDirectory(real) ? "is a folder" : "exists") + "). align4j reads only "
                    + "files inside the " + what + ", so that a downloaded folder cannot make it read another file "
                    + "(a token, a key). If you mean that file, copy it into the folder.");
        }
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(real, BasicFileAttributes.class);
        } catch (IOException e) {
            return file;
        }
        if (!a.isRegularFile() && !a.isDirectory()) {
            throw new Align4jException(file + (real.equals(file.toAbsolutePath().normalize()) ? "" : " (a link to " + real + ")")
                    + ": is not a regular file (a FIFO, device or socket), which could hang or never end; replace it "
                    + "with the file itself.");
        }
        return file;
    }

    private static String linkTarget(Path file) {
        try {
            return Files.isSymbolicLink(file) ? String.valueOf(Files.readSymbolicLink(file)) : "a missing file";
        } catch (IOException | UnsupportedOperationException e) {
            return "a missing file";
        }
    }

    /** Whether {@code real} is a blob of the Hugging Face cache repository that holds the snapshot {@code realFolder}. */
    private static boolean inHubBlobs(Path realFolder, Path real) {
        for (Path p = realFolder; p != null && p.getParent() != null; p = p.getParent()) {
            Path snapshots = p.getParent();
            if (snapshots.getFileName() != null && snapshots.getFileName().toString().equals("snapshots")
                    && snapshots.getParent() != null) {
                Path blobs = snapshots.getParent().resolve("blobs");
                return real.getParent() != null && real.getParent().equals(blobs);
            }
        }
        return false;
    }
}
