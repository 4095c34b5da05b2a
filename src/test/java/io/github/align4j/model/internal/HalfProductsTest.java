package io.github.align4j.model.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The per-machine choice of float16 products: when it applies, its cache, its measurement. */
class HalfProductsTest {
    @TempDir
    Path tmp;

    @AfterEach
    void measureAgain() {
        HalfProducts.set(null); // the suite's pinned choice (ALIGN4J_HALF_PRODUCTS=float32) on next use
    }

    @Test
    void theSuitePinsWidenedProducts() {
        HalfProducts.set(null);
        assertFalse(HalfProducts.decision().half(), HalfProducts.decision().toString());
        assertTrue(HalfProducts.decision().why().contains("float32"), HalfProducts.decision().why());
    }

    @Test
    void onlyFloat16WeightsTimesFloat32ActivationsWithoutAGradient() {
        HalfProducts.set(new HalfProducts.Decision(true, "test"));
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray w16 = m.ones(new Shape(16, 8)).toType(DataType.FLOAT16, false);
            NDArray w32 = m.ones(new Shape(16, 8));
            NDArray x = m.ones(new Shape(2, 8));
            assertTrue(HalfProducts.inHalf(w16, x), "2 rows: 2·(8+16) values to convert instead of 128");
            assertFalse(HalfProducts.inHalf(w16, m.ones(new Shape(2, 3, 8))), "6 rows: 144 values, more than the weight's");
            assertFalse(HalfProducts.inHalf(w32, x), "float32 weights");
            assertFalse(HalfProducts.inHalf(w16, x.toType(DataType.FLOAT16, false)), "activations already float16");
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                assertFalse(HalfProducts.inHalf(w16, x), "a pass with a gradient stays float32 (its backward too)");
            }
            assertTrue(HalfProducts.inHalf(w16, x), "after the collector closes");
            HalfProducts.set(new HalfProducts.Decision(false, "test"));
            assertFalse(HalfProducts.inHalf(w16, x), "where float16 is not faster");
        }
    }

    @Test
    void theCacheKeepsOneLinePerMachineAndIgnoresWhatItDidNotWrite() throws Exception {
        Path f = tmp.resolve("cache/half-products.txt");
        assertNull(HalfProducts.read(f, "a"), "no file");
        HalfProducts.write(f, "a", new HalfProducts.Decision(true, "measured 1.93 vs 2.61 ms"));
        HalfProducts.write(f, "b", new HalfProducts.Decision(false, "measured 3.00 vs 2.50 ms"));
        HalfProducts.write(f, "a", new HalfProducts.Decision(false, "measured 2.70 vs 2.61 ms")); // replaces a's line
        assertEquals(2, Files.readAllLines(f).size(), Files.readString(f));
        HalfProducts.Decision a = HalfProducts.read(f, "a");
        assertFalse(a.half());
        assertEquals("measured 2.70 vs 2.61 ms, cached", a.why());
        assertFalse(HalfProducts.read(f, "b").half());
        assertNull(HalfProducts.read(f, "c"), "another machine");
        try (var s = Files.list(f.getParent())) {
            assertEquals(1, s.count(), "no temporary file left");
        }

        Path odd = tmp.resolve("odd.txt");
        Files.writeString(odd, "a=float16 1.0 rm -rf /\na=maybe 1 2\n");
        assertNull(HalfProducts.read(odd, "a"), "malformed values are ignored");
        Files.write(odd, new byte[70_000]);
        assertNull(HalfProducts.read(odd, "a"), "an oversized file is ignored");
        Path link = tmp.resolve("link.txt");
        Files.createSymbolicLink(link, f);
        assertNull(HalfProducts.read(link, "a"), "a link is not followed");
    }

    @Test
    void theMeasurementTimesBothProducts() {
        double[] ms = HalfProducts.measure();
        assertEquals(2, ms.length);
        assertTrue(ms[0] > 0 && ms[1] > 0 && ms[0] < 10_000 && ms[1] < 10_000, ms[0] + " / " + ms[1]);
        String key = HalfProducts.fingerprint();
        assertTrue(key.contains(System.getProperty("os.arch")) && !key.contains("=") && !key.contains("\n"), key);
    }
}
