package io.github.align4j.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import io.github.align4j.Align4jException;

/** {@code --device cpu|gpu|auto}: auto picks the first GPU when DJL sees one, else the CPU. */
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
                throw new Align4jException("--device '" + name + "': expected cpu, gpu or auto");
        }
    }
}
