package io.github.align4j.loss;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Classes whose static initializers record that they ran, so that a test can check that naming a
 * class as a loss (a recipe's {@code loss_type}) does not run its initializer unless it is a loss.
 */
final class StaticInitProbe {
    /** How many times {@link NotALoss}'s initializer ran. */
    static final AtomicInteger NOT_A_LOSS_INITS = new AtomicInteger();

    private StaticInitProbe() {}

    /** Not a loss; its initializer stands for one with side effects (com.sun.jna.Native loads natives). */
    public static final class NotALoss {
        static {
            NOT_A_LOSS_INITS.incrementAndGet();
        }

        public NotALoss() {}
    }
}
