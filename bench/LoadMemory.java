// Peak resident memory of loading a model frozen, in a given torch_dtype, then of one forward pass.
//   java -cp target/align4j.jar bench/LoadMemory.java MODEL_DIR float16 [TOKENS]
// Prints the safetensors size, load time, VmRSS and VmHWM (peak RSS) after loading and after a
// forward pass over TOKENS tokens (default 0: none). Run each case in its own JVM: VmHWM never falls.
import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.align4j.model.CausalLM;
import io.github.align4j.model.ModelDtypes;
import io.github.align4j.model.SequenceScorer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

public class LoadMemory {
    public static void main(String[] a) throws Exception {
        System.setProperty("OPT_OUT_TRACKING", "true"); // DJL must not call home
        Path dir = Path.of(a[0]);
        DataType t = ModelDtypes.resolve(a.length > 1 ? a[1] : "float32", dir);
        int tokens = a.length > 2 ? Integer.parseInt(a[2]) : 0;
        long bytes;
        try (Stream<Path> s = Files.list(dir)) {
            bytes = s.filter(p -> p.toString().endsWith(".safetensors")).mapToLong(p -> p.toFile().length()).sum();
        }
        ai.djl.engine.Engine.getInstance();
        System.out.printf("%s: %.2f GiB of safetensors, loading as %s; %s%n", dir, bytes / 1073741824.0, t, mem());
        long t0 = System.nanoTime();
        try (CausalLM lm = CausalLM.load(dir, new CausalLM.Options(Device.cpu(), false, t))) {
            System.out.printf("loaded %,d parameters in %.1f s; %s%n", lm.parameterCount(), (System.nanoTime() - t0) / 1e9, mem());
            if (tokens > 0) {
                int[] seq = new int[tokens];
                for (int i = 0; i < tokens; i++) {
                    seq[i] = (i * 31 + 7) % lm.config().vocabSize();
                }
                t0 = System.nanoTime();
                try (NDManager m = lm.manager().newSubManager()) {
                    float lp = SequenceScorer.score(lm, m, new int[][] {seq}, new int[] {tokens / 2}).logps().getFloat(0);
                    System.out.printf("scored %d tokens in %.1f s (log-prob %.4f); %s%n", tokens,
                            (System.nanoTime() - t0) / 1e9, lp, mem());
                }
            }
        }
    }

    static String mem() throws Exception {
        String rss = "", hwm = "";
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (l.startsWith("VmRSS:")) rss = l.replaceAll("\\s+", " ").substring(7);
            if (l.startsWith("VmHWM:")) hwm = l.replaceAll("\\s+", " ").substring(7);
        }
        return "VmRSS " + rss + ", VmHWM (peak) " + hwm;
    }
}
