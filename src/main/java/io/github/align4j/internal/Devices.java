package io.github.align4j.internal;

import ai.djl.Device;
import ai.djl.engine.Engine;
import io.github.align4j.Align4jException;

/** {@code --device cpu|gpu|gpu:N|auto}: auto picks the first GPU when DJL sees one, else the CPU; gpu:N the N-th. */
public final class Devices {
    private Devices() {}

    public static Device resolve(String name) {
        Offline.ensure();
        String n = name == null ? "auto" : name.trim().toLowerCase(java.util.Locale.ROOT);
        switch (n) {
            case "cpu":
                return Device.cpu();
            case "gpu":
            case "cuda":
                if (Engine.getInstance().getGpuCount() == 0) {
                    throw new Align4jException("--device gpu: DJL sees no GPU. Use a CUDA build of the PyTorch natives "
                            + "(see docs/cuda.md) or --device cpu.");
                }
                return Device.gpu();
            case "auto":
                return Engine.getInstance().getGpuCount() > 0 ? Device.gpu() : Device.cpu();
            default:
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?:gpu|cuda):(\\d{1,4})").matcher(n);
                if (m.matches()) { // one GPU of several, e.g. the one a Spark task was given
                    int i = Integer.parseInt(m.group(1));
                    int count = Engine.getInstance().getGpuCount();
                    if (i >= count) {
                        throw new Align4jException("--device " + n + ": DJL sees " + count + " GPU(s)" + (count == 0
                                ? "; use a CUDA build of the PyTorch natives (see docs/cuda.md)" : ", numbered 0 to " + (count - 1)));
                    }
                    return Device.gpu(i);
                }
                throw new Align4jException("--device '" + name + "': expected cpu, gpu, gpu:N or auto");
        }
    }
}
