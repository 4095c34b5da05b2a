package io.github.align4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.Align4jException;
import io.github.align4j.model.internal.ModelDtypes;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelDtypesTest {
    @TempDir
    Path tmp;

    @Test
    void namedTypes() {
        assertEquals(DataType.FLOAT32, ModelDtypes.resolve("float32", null));
        assertEquals(DataType.FLOAT32, ModelDtypes.resolve(null, null), "unset: transformers' default, float32");
        assertEquals(DataType.FLOAT16, ModelDtypes.resolve("float16", null));
        assertEquals(DataType.FLOAT16, ModelDtypes.resolve("bfloat16", null), "DJL cannot hold bfloat16: held as float16");
        assertEquals(DataType.FLOAT16, ModelDtypes.resolve(" torch.BFloat16 ", null));
        Align4jException e = assertThrows(Align4jException.class, () -> ModelDtypes.resolve("int8", null));
        assertTrue(e.getMessage().contains("torch_dtype 'int8'") && e.getMessage().contains("float16"), e.getMessage());
        e = assertThrows(Align4jException.class, () -> ModelDtypes.resolve("auto", null));
        assertTrue(e.getMessage().contains("'auto'"), e.getMessage());
    }

    /** auto: the checkpoint's own (dominant) type, from the headers. */
    @Test
    void autoFollowsTheCheckpoint() throws Exception {
        Path f32 = HalfPrecisionTest.model(tmp.resolve("f32"), "llama", SafeTensors.DType.F32, 1);
        assertEquals(DataType.FLOAT32, ModelDtypes.resolve("auto", f32));
        assertEquals(DataType.FLOAT16, ModelDtypes.resolve("auto", HalfPrecisionTest.rewrite(f32, tmp.resolve("f16"),
                SafeTensors.DType.F16)));
        assertEquals(DataType.FLOAT16, ModelDtypes.resolve("auto", HalfPrecisionTest.rewrite(f32, tmp.resolve("bf16"),
                SafeTensors.DType.BF16)));
        assertThrows(Align4jException.class, () -> ModelDtypes.resolve("auto", tmp.resolve("missing")));
    }

    @Test
    void computeTypeIsFloat32ExceptFloat16OnAGpu() {
        assertEquals(DataType.FLOAT32, ModelDtypes.computeType(DataType.FLOAT16, Device.cpu()));
        assertEquals(DataType.FLOAT32, ModelDtypes.computeType(DataType.FLOAT32, Device.gpu()));
        assertEquals(DataType.FLOAT16, ModelDtypes.computeType(DataType.FLOAT16, Device.gpu()));
    }
}
