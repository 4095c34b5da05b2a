package io.github.align4j.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/** Test helper: frees what the GC can free and refills freed native memory, to expose tensors that backward reads after their memory is gone. */
public final class NativeChurn {
    private NativeChurn() {}

    /** Lets the GC free unreachable direct buffers, then refills small native blocks with a junk pattern. */
    public static void run() throws InterruptedException {
        List<ByteBuffer> keep = new ArrayList<>();
        for (int round = 0; round < 10; round++) {
            System.gc();
            Thread.sleep(10);
            for (int size : new int[] {16, 64}) {
                for (int i = 0; i < 1000; i++) {
                    ByteBuffer b = ByteBuffer.allocateDirect(size).order(ByteOrder.nativeOrder());
                    for (int k = 0; k + 8 <= size; k += 8) {
                        b.putLong(k, 0x4499_7777_7777_7777L);
                    }
                    keep.add(b);
                }
            }
        }
    }
}
