#!/usr/bin/env bash
# The real-cluster tests of align4j-spark (docs/distributed.md): a standalone master and two workers,
# each its own JVM on 127.0.0.1, their executors launched as further JVMs, all from the jars Maven
# resolved (SPARK_HOME/jars filled by dependency:copy-dependencies; no Spark download). Every process
# started here is stopped by PID when the script ends, however it ends.
#
#   1. a 4-cell sweep (dpo, ipo × β 0.1, 0.5) gives the same results.csv as `align4j sweep` of the same file;
#   2. an executor JVM killed (SIGKILL) while its cell trains: the sweep still finishes, the killed
#      cell resumes from its checkpoint (the log line is shown), and results.csv is the same again;
#   3. 1,000 rows scored by the logprobs job equal `align4j logprobs`, and `align4j train --ref-logps`
#      with that file gives the losses of `--precompute-ref`;
#   4. samples for 20 prompts by the generate job equal `align4j generate --json`;
#   5. MT-Bench answers of two models (the tiny model, and a LoRA adapter trained on it) by
#      `generate --mt-bench` equal `align4j mt-bench --answers-only`'s files.
#
# Run from spark/ after `mvn package` there and in the root (needs ../target/align4j.jar and
# target/align4j-spark.jar). Writes only under target/cluster/. Nothing listens beyond 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../../.."
spark_module=$(pwd)
work=$spark_module/target/cluster
cli=$spark_module/../target/align4j.jar
job=$spark_module/target/align4j-spark.jar
test -s "$cli" || { echo "missing $cli: build the root project first (mvn package)" >&2; exit 1; }
test -s "$job" || { echo "missing $job: mvn package in spark/ first" >&2; exit 1; }

export SPARK_HOME=$work/spark-home SPARK_LOCAL_IP=127.0.0.1 SPARK_SCALA_VERSION=2.13 OPT_OUT_TRACKING=true
export SPARK_LOCAL_DIRS=$work/local
rm -rf "$work"
mkdir -p "$SPARK_HOME" "$SPARK_LOCAL_DIRS"
t0=$(date +%s)
# Spark's jars (spark-sql_2.13 and what it brings, the `provided` scope of this module) as a SPARK_HOME for the master, workers and executors.
mvn -B -q ${MVN_OFFLINE:-} -f src/test/cluster/spark-home.xml dependency:copy-dependencies -DoutputDirectory="$SPARK_HOME/jars"
echo "SPARK_HOME/jars: $(ls "$SPARK_HOME/jars" | wc -l) jars ($(( $(date +%s) - t0 )) s)"

# Java 17 options that Spark's launcher gives every JVM it starts; the driver here is started by hand.
opens="-XX:+IgnoreUnrecognizedVMOptions"
for p in java.lang java.lang.invoke java.lang.reflect java.io java.net java.nio java.util java.util.concurrent \
        java.util.concurrent.atomic jdk.internal.ref sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar; do
    opens="$opens --add-opens=java.base/$p=ALL-UNNAMED"
done
opens="$opens -Djdk.reflect.useDirectMethodHandle=false -Dio.netty.tryReflectionSetAccessible=true"

pids=()
stop() {
    local rc=$?
    # executors are children of the workers: stop them by PID first, then the workers and the master
    for p in "${pids[@]}"; do
        for c in $(pgrep -P "$p" 2>/dev/null || true); do kill -9 "$c" 2>/dev/null || true; done
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    exit $rc
}
trap stop EXIT INT TERM

# A free port on 127.0.0.1 for the master (bash's /dev/tcp: a refused connection means nobody listens).
port=
for _ in $(seq 50); do
    cand=$(( 27000 + RANDOM % 2000 ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$cand) 2>/dev/null; then port=$cand; break; fi
done
test -n "$port"
master_url=spark://127.0.0.1:$port

java -Xmx512m -cp "$SPARK_HOME/jars/*" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$port" \
    --webui-port 0 > "$work/master.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do grep -q "I have been elected leader" "$work/master.log" && break; sleep 0.5; done
grep -q "I have been elected leader" "$work/master.log" || { cat "$work/master.log"; echo "master did not start" >&2; exit 1; }
for w in 1 2; do
    mkdir -p "$work/worker-$w"
    java -Xmx512m -cp "$SPARK_HOME/jars/*" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores 1 \
        --memory 2g --webui-port 0 --work-dir "$work/worker-$w" "$master_url" > "$work/worker-$w.log" 2>&1 &
    pids+=($!)
done
for w in 1 2; do
    for _ in $(seq 120); do grep -q "Successfully registered with master" "$work/worker-$w.log" && break; sleep 0.5; done
    grep -q "Successfully registered with master" "$work/worker-$w.log" || { cat "$work/worker-$w.log"; exit 1; }
done
echo "cluster: master pid ${pids[0]} at $master_url, workers ${pids[1]} ${pids[2]} ($(( $(date +%s) - t0 )) s)"

# A tiny model and preference pairs (the CLI's init; pairs from a fixed list).
java -Dai.djl.offline=true -jar "$cli" init --model-type llama --out "$work/model" --seed 7 \
    --config <(echo '{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2, "intermediate_size": 128}') > /dev/null
products=(phone lamp chair kettle camera bike watch desk)
for i in $(seq 0 23); do
    p=${products[$(( (i * 5 + 3) % 8 ))]}
    echo "{\"prompt\": \"How is the $p?\", \"chosen\": \"The $p is great.\", \"rejected\": \"The $p is awful.\"}"
done > "$work/pairs.jsonl"

sweep_file() { # FILE OUTPUT STEPS
    cat > "$1" <<YAML
model_name_or_path: $work/model
train_file: $work/pairs.jsonl
eval_split: 0.25
output_dir: $2
max_steps: $3
save_steps: 10
per_device_train_batch_size: 4
learning_rate: 1.0e-3
device: cpu
grid:
  loss_type: [dpo, ipo]
  beta: [0.1, 0.5]
YAML
}

submit() { # LOG ARGS...
    local log=$1; shift
    java -Xmx1g $opens -cp "$job:$SPARK_HOME/jars/*" org.apache.spark.deploy.SparkSubmit --master "$master_url" \
        --conf spark.executor.cores=1 --conf spark.task.cpus=1 --conf spark.executor.memory=1g \
        --conf spark.ui.enabled=false --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
        --conf spark.executorEnv.OPT_OUT_TRACKING=true --conf spark.executorEnv.SPARK_LOCAL_IP=127.0.0.1 \
        --conf "spark.executor.extraJavaOptions=-Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1" \
        --class io.github.align4j.spark.Main "$job" "$@" > "$log" 2>&1
}

local_sweep() { # FILE
    java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 -jar "$cli" \
        sweep --config "$1" > /dev/null 2>&1
}

# results.csv without its seconds column
values() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") s = i } { out = ""; for (i = 1; i <= NF; i++) if (i != s) out = out (out == "" && i == 1 ? "" : ",") $i; print out }' "$1"; }

# ---- 1. a 4-cell sweep on the cluster = align4j sweep ---------------------------------------------
t=$(date +%s)
sweep_file "$work/sweep.yaml" "$work/out-spark" 20
submit "$work/sweep-driver.log" sweep --config "$work/sweep.yaml" || { tail -50 "$work/sweep-driver.log"; exit 1; }
spark_s=$(( $(date +%s) - t ))
t=$(date +%s)
sweep_file "$work/local.yaml" "$work/out-local" 20
local_sweep "$work/local.yaml"
local_s=$(( $(date +%s) - t ))
diff <(values "$work/out-local/results.csv") <(values "$work/out-spark/results.csv")
test "$(wc -l < "$work/out-spark/results.csv")" -eq 5
# the tasks ran in executor JVMs, not in the driver
driver_pid_lines=$(grep -h "sweep run .* starts (executor pid" "$work"/worker-*/app-*/*/stderr | wc -l)
test "$driver_pid_lines" -ge 4
echo "test 1 passed: 4-cell sweep on 2 executors ${spark_s} s (align4j sweep locally: ${local_s} s); results.csv identical"
grep -h "sweep run .* starts" "$work"/worker-*/app-*/*/stderr | sed 's/^.*INFO /  /'

# ---- 2. an executor killed while its cell trains: resumed from the checkpoint ------------------------
t=$(date +%s)
sweep_file "$work/kill.yaml" "$work/out-kill" 200
submit "$work/kill-driver.log" sweep --config "$work/kill.yaml" &
driver=$!
pids+=($driver)
victim=
for _ in $(seq 1200); do
    for run in 0 1 2 3; do
        cell=$(sed -n "$(( run + 1 ))p" <<< $'dpo-beta0.1\ndpo-beta0.5\nipo-beta0.1\nipo-beta0.5')
        d=$work/out-kill/cells/$cell
        if compgen -G "$d/checkpoint-*/manifest.json" > /dev/null && [ ! -e "$d/result.json" ] && [ ! -e "$d/final" ]; then
            pid=$(grep -h "sweep run $run/4 starts (executor pid" "$work"/worker-*/app-*/*/stderr 2>/dev/null \
                | tail -1 | sed 's/.*executor pid \([0-9]*\).*/\1/')
            parent=$(ps -o ppid= -p "${pid:-0}" 2>/dev/null | tr -d ' ' || true)
            if [ -n "$pid" ] && { [ "$parent" = "${pids[1]}" ] || [ "$parent" = "${pids[2]}" ]; }; then
                kill -9 "$pid"
                victim="$cell (run $run, executor pid $pid, after $(basename "$(ls -d "$d"/checkpoint-* | sort -V | tail -1)"))"
                break 2
            fi
        fi
    done
    sleep 0.1
done
test -n "$victim" || { echo "no executor could be caught between a checkpoint and the end of its cell" >&2; exit 1; }
echo "killed (SIGKILL) the executor training $victim"
wait "$driver" || { tail -50 "$work/kill-driver.log"; exit 1; }
kill_s=$(( $(date +%s) - t ))
grep -h "resume: continuing from .*out-kill" "$work"/worker-*/app-*/*/stderr | sed 's/^.*INFO /  /'
grep -qh "resume: continuing from .*out-kill" "$work"/worker-*/app-*/*/stderr
t=$(date +%s)
sweep_file "$work/kill-local.yaml" "$work/out-kill-local" 200
local_sweep "$work/kill-local.yaml"
kill_local_s=$(( $(date +%s) - t ))
diff <(values "$work/out-kill-local/results.csv") <(values "$work/out-kill/results.csv")
echo "test 2 passed: sweep with a killed executor ${kill_s} s (align4j sweep locally: ${kill_local_s} s); resumed; results.csv identical"
# ---- 3. 1,000 rows scored on the cluster = align4j logprobs; train with them as the reference ---------
for i in $(seq 0 999); do
    p=${products[$(( i % 8 ))]}
    n=$(( i % 7 ))
    extra=$(printf ' really%.0s' $(seq 0 $n))
    echo "{\"prompt\": \"Row $i: how is the$extra good $p?\", \"chosen\": \"The $p is$extra great.\", \"rejected\": \"The $p is awful.\"}"
done > "$work/rows1000.jsonl"
t=$(date +%s)
submit "$work/logprobs-driver.log" logprobs --model "$work/model" --data "$work/rows1000.jsonl" \
    --out "$work/ref-spark.jsonl" --batch-size 8 --cache-dir "$work/cache" || { tail -50 "$work/logprobs-driver.log"; exit 1; }
logprobs_s=$(( $(date +%s) - t ))
grep -h "logprobs: scored" "$work/logprobs-driver.log"
t=$(date +%s)
java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 -jar "$cli" logprobs \
    --model "$work/model" --data "$work/rows1000.jsonl" --out "$work/ref-local.jsonl" --batch-size 8 \
    --cache-dir "$work/cache" 2> "$work/logprobs-local.log"
logprobs_local_s=$(( $(date +%s) - t ))
test "$(wc -l < "$work/ref-spark.jsonl")" -eq 1000
# the same values, bit for bit, under TRL's column names
diff <(sed 's/"ref_/"/g' "$work/ref-spark.jsonl") "$work/ref-local.jsonl"
train() { # OUTPUT ARGS...
    local o=$1; shift
    java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 -jar "$cli" train \
        --model "$work/model" --data "$work/rows1000.jsonl" --output "$work/$o" --max-steps 2 --batch-size 8 \
        --logging-steps 1 --cache-dir "$work/cache" "$@" > "$work/$o.log" 2>&1 || { cat "$work/$o.log"; exit 1; }
}
train train-precompute --precompute-ref
train train-ref-spark --ref-logps "$work/ref-spark.jsonl"
grep -q "from $work/ref-spark.jsonl (reference model not loaded)" "$work/train-ref-spark.log"
losses() { grep -o '"loss":[^,]*' "$1/metrics.jsonl" | head -2; }
# the same losses to float precision: --precompute-ref scores the reference in the trainer's own batches,
# whose sums may differ from the logprobs job's in the last bit
paste -d' ' <(losses "$work/train-precompute" | cut -d: -f2) <(losses "$work/train-ref-spark" | cut -d: -f2) \
    | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-6 * ($1 < 0 ? -$1 : $1)) { print "losses differ: " $0; exit 1 } }'
echo "test 3 passed: 1,000 rows scored on 2 executors in ${logprobs_s} s (align4j logprobs locally: ${logprobs_local_s} s), values identical; train --ref-logps: losses $(losses "$work/train-ref-spark" | cut -d: -f2 | tr '\n' ' ')vs --precompute-ref $(losses "$work/train-precompute" | cut -d: -f2 | tr '\n' ' ')"

# ---- 4. samples for a table of prompts on the cluster = align4j generate --json ----------------------
for i in $(seq 0 19); do echo "{\"prompt\": \"Tell me about the ${products[$(( i % 8 ))]} number $i.\"}"; done \
    > "$work/prompts.jsonl"
t=$(date +%s)
submit "$work/generate-driver.log" generate --model "$work/model" --data "$work/prompts.jsonl" --out "$work/samples-spark.jsonl" \
    --max-new-tokens 16 --temperature 0.8 --seed 7 --num-samples 2 || { tail -50 "$work/generate-driver.log"; exit 1; }
generate_s=$(( $(date +%s) - t ))
java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 -jar "$cli" generate \
    --model "$work/model" --data "$work/prompts.jsonl" --json --max-new-tokens 16 --temperature 0.8 --seed 7 \
    --num-samples 2 --device cpu > "$work/samples-local.jsonl" 2> /dev/null
test "$(wc -l < "$work/samples-spark.jsonl")" -eq 40
diff "$work/samples-local.jsonl" "$work/samples-spark.jsonl"
echo "test 4 passed: 20 prompts × 2 samples on 2 executors in ${generate_s} s; lines identical to align4j generate --json"

# ---- 5. MT-Bench answers of two models (one a base + LoRA adapter) = align4j mt-bench --answers-only ----
java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 -jar "$cli" train \
    --model "$work/model" --data "$work/pairs.jsonl" --output "$work/lora-cell" --max-steps 3 --batch-size 4 \
    --use-peft --lr 1e-2 > "$work/lora-cell.log" 2>&1 || { cat "$work/lora-cell.log"; exit 1; }
test -s "$work/lora-cell/final/adapter_config.json"
printf '{"model_id": "sft", "model": "%s"}\n{"model": "%s", "adapter": "%s"}\n' "$work/model" "$work/model" \
    "$work/lora-cell/final" > "$work/models.jsonl"
t=$(date +%s)
submit "$work/mt-bench-driver.log" generate --mt-bench --models "$work/models.jsonl" --output "$work/mt-spark" \
    --question-ids 81,111,131 --max-new-tokens 8 || { tail -50 "$work/mt-bench-driver.log"; exit 1; }
mt_s=$(( $(date +%s) - t ))
mt_local() { # ARGS...
    java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 -jar "$cli" mt-bench \
        --answers-only --output "$work/mt-local" --question-ids 81,111,131 --max-new-tokens 8 --device cpu "$@" > /dev/null 2> "$work/mt-local.log" || { cat "$work/mt-local.log"; exit 1; }
}
mt_local --model "$work/model" --model-id sft
mt_local --model "$work/model" --adapter "$work/lora-cell/final"
# FastChat's tstamp is when a row was written; everything else must be equal
notime() { sed 's/"tstamp":[0-9.E]*//' "$1"; }
for id in sft lora-cell; do
    test "$(wc -l < "$work/mt-spark/model_answer/$id.jsonl")" -eq 3
    diff <(notime "$work/mt-local/model_answer/$id.jsonl") <(notime "$work/mt-spark/model_answer/$id.jsonl")
done
# the adapter changed the answers, and each model ran in an executor JVM
if diff -q <(notime "$work/mt-spark/model_answer/sft.jsonl" | sed 's/"model_id":"[^"]*"//; s/"answer_id":"[^"]*"//') \
    <(notime "$work/mt-spark/model_answer/lora-cell.jsonl" | sed 's/"model_id":"[^"]*"//; s/"answer_id":"[^"]*"//') > /dev/null; then
    echo "the adapter did not change the answers" >&2; exit 1
fi
test "$(grep -h "generate --mt-bench: model .* starts (executor pid" "$work"/worker-*/app-*/*/stderr | wc -l)" -ge 2
echo "test 5 passed: MT-Bench answers of 2 models (one base + LoRA adapter) on 2 executors in ${mt_s} s; files identical to align4j mt-bench --answers-only (but tstamp)"

echo "cluster tests: $(( $(date +%s) - t0 )) s in all"
