/**
 * The {@code align4j} command line ({@link io.github.align4j.cli.Main}), built as
 * {@code target/align4j.jar} with its picocli, XChart, SLF4J binding and CPU natives bundled. These
 * are optional dependencies of the align4j artifact: a project that uses align4j as a library does
 * not receive them and never loads this package. The command line runs DJL offline by default
 * ({@code -Dai.djl.offline=false} allows downloads); see docs/cli.md.
 */
package io.github.align4j.cli;
