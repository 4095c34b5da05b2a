package io.github.align4j.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the Java memory under every array made in this thread alive from a micro-batch's forward until its
 * backward is done, so that a custom loss written with DJL's {@code x.mul(beta)} trains correctly.
 *
 * <p>Why: DJL's {@code mul/div/pow/maximum/minimum(Number)} wrap the number in a tensor over a Java direct buffer
 * and close that tensor before returning; autograd keeps the tensor for backward, and a garbage collection in
 * between frees the buffer (see {@link io.github.align4j.loss.Scalars}). Closing the tensor drops DJL's only
 * reference to the buffer ({@code PtNDArray.dataRef}), after which nothing outside DJL can reach it. But every
 * array DJL makes registers itself in the innermost {@link NDScope} of its thread just after its buffer is set;
 * this class opens such a scope and records each registered array's buffer there, holding it until
 * {@link #close()}. The scope itself changes nothing else: on close it hands the arrays it saw to the enclosing
 * scope (as if it had never been opened) and closes none of them.
 *
 * <p>It reads two private DJL fields ({@code NDScope.resources}, {@code PtNDArray.dataRef}; present in DJL 0.33
 * and 0.36, checked by {@code KeepAliveTest}). Where a DJL version lacks them, {@link #open()} returns a scope
 * that keeps nothing and the trainer logs once that custom losses must use {@code Scalars}.
 */
final class KeepAlive implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(KeepAlive.class);
    private static final Field RESOURCES;
    private static final Field DATA_REF;
    private static boolean warned;

    static {
        Field resources = null;
        Field dataRef = null;
        try {
            resources = NDScope.class.getDeclaredField("resources");
            dataRef = PtNDArray.class.getDeclaredField("dataRef");
            if (resources.getType() != IdentityHashMap.class || dataRef.getType() != ByteBuffer.class) {
                throw new NoSuchFieldException("unexpected field types");
            }
            resources.setAccessible(true);
            dataRef.setAccessible(true);
        } catch (ReflectiveOperationException | RuntimeException e) {
            resources = null;
            dataRef = null;
        }
        RESOURCES = resources;
        DATA_REF = dataRef;
    }

    private final NDScope scope;
    private final Recorder recorder;

    private KeepAlive(NDScope scope, Recorder recorder) {
        this.scope = scope;
        this.recorder = recorder;
    }

    /** True when this DJL version lets align4j keep loss memory alive. */
    static boolean available() {
        return RESOURCES != null;
    }

    /** Starts keeping alive what this thread creates; close after backward. */
    static KeepAlive open() {
        if (!available()) {
            warnOnce();
            return new KeepAlive(null, null);
        }
        NDScope scope = new NDScope();
        Recorder recorder = new Recorder();
        try {
            RESOURCES.set(scope, recorder);
        } catch (IllegalAccessException e) {
            scope.close(); // nothing registered yet: only leaves the scope stack
            warnOnce();
            return new KeepAlive(null, null);
        }
        return new KeepAlive(scope, recorder);
    }

    private static synchronized void warnOnce() {
        if (!warned) {
            warned = true;
            LOG.warn("This DJL version does not let align4j keep a loss's temporary arrays alive until backward: "
                    + "a custom loss must scale with io.github.align4j.loss.Scalars, not NDArray.mul(Number).");
        }
    }

    /** Java buffers held so far (for tests). */
    int buffersHeld() {
        return recorder == null ? 0 : recorder.buffers.size();
    }

    /** Lets the buffers go and passes the arrays seen to the enclosing scope, closing none of them. */
    @Override
    public void close() {
        if (scope == null) {
            return;
        }
        List<NDArray> seen = new ArrayList<>(recorder.keySet());
        recorder.clear();
        scope.close(); // empty now: this only takes it off the thread's scope stack
        for (NDArray a : seen) {
            NDScope.register(a);
        }
        recorder.buffers.clear();
    }

    /** The scope's array set, which also holds on to each array's Java buffer. */
    private static final class Recorder extends IdentityHashMap<NDArray, NDArray> {
        private static final long serialVersionUID = 1L;
        private final transient List<ByteBuffer> buffers = new ArrayList<>();

        @Override
        public NDArray put(NDArray key, NDArray value) {
            if (key instanceof PtNDArray) {
                try {
                    Object b = DATA_REF.get(key);
                    if (b != null) {
                        buffers.add((ByteBuffer) b);
                    }
                } catch (IllegalAccessException e) {
                    throw new IllegalStateException(e);
                }
            }
            return super.put(key, value);
        }
    }
}
