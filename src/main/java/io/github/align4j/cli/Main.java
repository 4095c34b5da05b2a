package io.github.align4j.cli;

import io.github.align4j.internal.NativeEnv;
import io.github.align4j.internal.Offline;
import io.github.align4j.train.internal.HugePages;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * {@code align4j}: the command line. Each subcommand is its own class; adding one is one line in
 * {@code subcommands} below. Exit codes: 0 success, 1 internal error (a bug or an environment
 * failure: rerun with {@code --stacktrace}), 2 a usage error or an {@link io.github.align4j.Align4jException}
 * (bad input the user can fix; the message says how). See docs/cli.md.
 */
@Command(
        name = "align4j",
        mixinStandardHelpOptions = true,
        versionProvider = CliSupport.Version.class,
        description = "Preference tuning (DPO, IPO, KTO) of Hugging Face causal language models on DJL's PyTorch engine.",
        subcommands = {
            TrainCommand.class,
            InspectCommand.class,
            InitCommand.class,
            LogprobsCommand.class,
            LoadStatsCommand.class,
            GenerateCommand.class,
            EvalCommand.class,
            MergeCommand.class,
            MtBenchCommand.class,
            SweepCommand.class,
            DemoCommand.class,
            OnlineDpoCommand.class,
            BenchCommand.class,
            CommandLine.HelpCommand.class,
        })
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--stacktrace", scope = ScopeType.INHERIT,
            description = "Print the full stack trace of any error (for bug reports).")
    boolean stacktrace;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "Missing a command; see the list below.");
    }

    /** A configured command line: error handlers and exit codes as documented in docs/cli.md. */
    public static CommandLine commandLine() {
        processDefaults();
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler(new CliSupport.ErrorHandler());
        cl.setParameterExceptionHandler(new CliSupport.UsageErrorHandler());
        cl.setExecutionStrategy(CliSupport::runCatchingErrors);
        return cl;
    }

    public static void main(String[] args) {
        processDefaults(); // before any DJL class loads
        System.exit(commandLine().execute(args));
    }

    /**
     * The command line owns its JVM, so it sets what the library must not: DJL offline (nothing is
     * downloaded; the natives come from the jar) and headless AWT for the report plots. Each only
     * where the user has not chosen: {@code -Dai.djl.offline=false} (or the environment variable
     * {@code DJL_OFFLINE=false}, which DJL reads first) lets DJL download, e.g. the CUDA natives of
     * docs/cuda.md's third route. Telemetry stays off either way ({@link Offline}).
     */
    static void processDefaults() {
        Offline.ensure();
        setUnlessChosen("ai.djl.offline", "DJL_OFFLINE", "true");
        setUnlessChosen("java.awt.headless", null, "true");
        // libtorch asks for huge pages for its blocks of 2 MiB or more: fewer page faults and a lower peak
        // (docs/performance.md, "Page faults"); THP_MEM_ALLOC_ENABLE=0 in the environment keeps it off
        NativeEnv.setUnlessSet(HugePages.LIBTORCH_SWITCH, "1");
    }

    /** Sets a system property unless it, or the environment variable (may be null) that overrides it, is already set. */
    static void setUnlessChosen(String property, String env, String value) {
        if (System.getProperty(property) == null && (env == null || System.getenv(env) == null)) {
            System.setProperty(property, value);
        }
    }
}
