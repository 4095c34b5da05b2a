package io.github.align4j.data.template;

import java.time.Duration;
import java.util.Objects;

/**
 * Limits on what rendering one chat template may cost. A chat template comes from a downloaded
 * model folder, so it is untrusted input: each limit turns a template that would loop, recurse or
 * grow without end into an {@code Align4jException} naming the limit, instead of a hang, a {@code
 * StackOverflowError} or an {@code OutOfMemoryError}. The defaults are far above what real chat
 * templates need (they render a conversation in milliseconds, a few levels deep):
 *
 * <ul>
 *   <li>{@link #maxOutputChars()}: 16 Mi characters of rendered text (a prompt of about 4 million
 *       tokens);
 *   <li>{@link #maxStringChars()}: 16 Mi characters for any one string the template builds
 *       ({@code 'a'.center(n)}, {@code ljust}, {@code zfill}, {@code '{:>n}'.format(...)}, {@code
 *       join}, {@code replace}, {@code +}, and the numeric arguments of filters such as {@code
 *       center}, {@code indent}, {@code batch}), checked before the string is built;
 *   <li>{@link #maxLoopIterations()}: 1,000,000 {@code for} loop iterations per render, all loops
 *       together;
 *   <li>{@link #maxNestingDepth()}: 100 tags inside each other ({@code if} in {@code for} in ...);
 *   <li>{@link #maxMacroDepth()}: 100 macro calls inside each other (jinja2 raises {@code
 *       RecursionError} for a macro that never stops calling itself; so does align4j);
 *   <li>{@link #maxRenderTime()}: 10 seconds of wall-clock time per render.
 * </ul>
 *
 * <p>{@code range()} is not configurable: as in jinja2's sandbox, a range of more than 100,000
 * items is an error. Instances are immutable; change a limit with the {@code with...} methods,
 * e.g. {@code TemplateLimits.defaults().withMaxOutputChars(64L << 20)}.
 */
public final class TemplateLimits {
    private static final TemplateLimits DEFAULTS =
            new TemplateLimits(16L << 20, 16L << 20, 1_000_000, 100, 100, Duration.ofSeconds(10));

    private final long maxOutputChars;
    private final long maxStringChars;
    private final long maxLoopIterations;
    private final int maxNestingDepth;
    private final int maxMacroDepth;
    private final Duration maxRenderTime;

    private TemplateLimits(long maxOutputChars, long maxStringChars, long maxLoopIterations, int maxNestingDepth,
            int maxMacroDepth, Duration maxRenderTime) {
        this.maxOutputChars = positive(maxOutputChars, "maxOutputChars");
        this.maxStringChars = positive(maxStringChars, "maxStringChars");
        this.maxLoopIterations = positive(maxLoopIterations, "maxLoopIterations");
        this.maxNestingDepth = (int) positive(maxNestingDepth, "maxNestingDepth");
        this.maxMacroDepth = (int) positive(maxMacroDepth, "maxMacroDepth");
        this.maxRenderTime = Objects.requireNonNull(maxRenderTime, "maxRenderTime");
        if (maxRenderTime.isNegative() || maxRenderTime.isZero()) {
            throw new IllegalArgumentException("maxRenderTime must be positive, not " + maxRenderTime);
        }
        if (maxOutputChars > Integer.MAX_VALUE - 16 || maxStringChars > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("maxOutputChars and maxStringChars must be below 2^31 (a Java string)");
        }
    }

    private static long positive(long value, String name) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be positive, not " + value);
        }
        return value;
    }

    /** The defaults listed in the class comment. */
    public static TemplateLimits defaults() {
        return DEFAULTS;
    }

    /** Most characters one render may produce. */
    public long maxOutputChars() {
        return maxOutputChars;
    }

    /** Most characters of any one string a template builds, checked before building it. */
    public long maxStringChars() {
        return maxStringChars;
    }

    /** Most {@code for} loop iterations of one render, all loops together. */
    public long maxLoopIterations() {
        return maxLoopIterations;
    }

    /** Most tags nested inside each other, checked when the template is parsed. */
    public int maxNestingDepth() {
        return maxNestingDepth;
    }

    /** Most macro calls nested inside each other (recursion). */
    public int maxMacroDepth() {
        return maxMacroDepth;
    }

    /** Longest wall-clock time one render may take. */
    public Duration maxRenderTime() {
        return maxRenderTime;
    }

    public TemplateLimits withMaxOutputChars(long v) {
        return new TemplateLimits(v, maxStringChars, maxLoopIterations, maxNestingDepth, maxMacroDepth, maxRenderTime);
    }

    public TemplateLimits withMaxStringChars(long v) {
        return new TemplateLimits(maxOutputChars, v, maxLoopIterations, maxNestingDepth, maxMacroDepth, maxRenderTime);
    }

    public TemplateLimits withMaxLoopIterations(long v) {
        return new TemplateLimits(maxOutputChars, maxStringChars, v, maxNestingDepth, maxMacroDepth, maxRenderTime);
    }

    public TemplateLimits withMaxNestingDepth(int v) {
        return new TemplateLimits(maxOutputChars, maxStringChars, maxLoopIterations, v, maxMacroDepth, maxRenderTime);
    }

    public TemplateLimits withMaxMacroDepth(int v) {
        return new TemplateLimits(maxOutputChars, maxStringChars, maxLoopIterations, maxNestingDepth, v, maxRenderTime);
    }

    public TemplateLimits withMaxRenderTime(Duration v) {
        return new TemplateLimits(maxOutputChars, maxStringChars, maxLoopIterations, maxNestingDepth, maxMacroDepth, v);
    }

    @Override
    public String toString() {
        return "TemplateLimits[maxOutputChars=" + maxOutputChars + ", maxStringChars=" + maxStringChars
                + ", maxLoopIterations=" + maxLoopIterations + ", maxNestingDepth=" + maxNestingDepth
                + ", maxMacroDepth=" + maxMacroDepth + ", maxRenderTime=" + maxRenderTime + "]";
    }
}
