#!/usr/bin/env bash
# The memory planner's estimate against the measured peak RSS (VmHWM) of `align4j bench` runs, one
# configuration per process, as in docs/performance.md ("Memory planner"). Prints a Markdown table.
#
#   bench/memory-plan.sh [SET] [OUT]      SET: quick (default), all, half or big; OUT: default target/memory-plan
#
# quick: full fine-tuning and LoRA on bench-small and bench-medium shapes (about 20 min on 2 cores);
# all: quick plus a 156M-parameter model, full and LoRA (about 35 min);
# half: LoRA with float16 frozen weights and/or recomputation on bench-medium;
# big: the TinyLlama-1.1B shape with LoRA r=16 all-linear, 4 pairs × (256 + 256), recomputation
# (writes a 4.4 GB checkpoint; several minutes per step on 2 cores).
# Each run is `align4j bench ... --steps 2 --warmup 1 --threads 2 --json` in its own JVM. Peaks of
# longer runs are higher (glibc's arenas grow over the first steps; docs/performance.md).
# Needs target/align4j.jar (mvn -B -DskipTests package). Models are written with `align4j init`
# into $MODELS (default /tmp/align4j-memory-plan) unless they are there already.
set -euo pipefail
cd "$(dirname "$0")/.."
SET=${1:-quick}
OUT=${2:-target/memory-plan}
MODELS=${MODELS:-/tmp/align4j-memory-plan}
export OPT_OUT_TRACKING=true
JAR=${JAR:-target/align4j.jar}
A4J=(java -Dai.djl.offline=true -jar "$JAR")
mkdir -p "$OUT" "$MODELS"

model() { # name hidden intermediate layers heads kv-heads vocab
    [ -f "$MODELS/$1/config.json" ] && return
    printf '{"hidden_size":%s,"intermediate_size":%s,"num_hidden_layers":%s,"num_attention_heads":%s,"num_key_value_heads":%s,"vocab_size":%s,"max_position_embeddings":2048}' \
        "$2" "$3" "$4" "$5" "$6" "$7" > "$MODELS/$1.json"
    "${A4J[@]}" init --model-type llama --config "$MODELS/$1.json" --out "$MODELS/$1" >&2
}
model tiny 64 256 2 4 4 794
model bench-small 256 704 4 8 4 8192
model bench-medium 512 1408 8 8 4 32000
[ "$SET" = all ] && model m156 1024 2816 8 16 4 32000
[ "$SET" = big ] && model tinyllama 2048 5632 22 32 4 32000

RUNS=()
add() { RUNS+=("$*"); }
LORA="--use-peft --lora-r 16 --lora-alpha 32 --lora-target-modules all-linear"
if [ "$SET" = quick ] || [ "$SET" = all ]; then
    add tiny                 --model tiny --pairs 8 --prompt 64 --completion 64
    add small-full           --model bench-small --pairs 8 --prompt 64 --completion 64
    add small-full-512       --model bench-small --pairs 4 --prompt 256 --completion 256
    add small-lora-512       --model bench-small --pairs 4 --prompt 256 --completion 256 $LORA
    add medium-full          --model bench-medium --pairs 8 --prompt 64 --completion 64
    add medium-full-512      --model bench-medium --pairs 2 --prompt 256 --completion 256
    add medium-full-64       --model bench-medium --pairs 16 --prompt 32 --completion 32
    add medium-full-precomp  --model bench-medium --pairs 8 --prompt 64 --completion 64 --precompute-ref
    add medium-lora          --model bench-medium --pairs 8 --prompt 64 --completion 64 $LORA
    add medium-lora-qv       --model bench-medium --pairs 8 --prompt 64 --completion 64 --use-peft
fi
if [ "$SET" = all ]; then
    add m156-full            --model m156 --pairs 8 --prompt 64 --completion 64
    add m156-lora            --model m156 --pairs 8 --prompt 64 --completion 64 $LORA
fi
if [ "$SET" = half ]; then
    add medium-lora-fp16     --model bench-medium --pairs 8 --prompt 64 --completion 64 $LORA --torch-dtype float16
    add medium-lora-ckpt     --model bench-medium --pairs 8 --prompt 64 --completion 64 $LORA --gradient-checkpointing
    add medium-lora-fp16-ckpt --model bench-medium --pairs 8 --prompt 64 --completion 64 $LORA --torch-dtype float16 --gradient-checkpointing
fi
if [ "$SET" = big ]; then
    add tinyllama-lora-ckpt  --model tinyllama --pairs 4 --prompt 256 --completion 256 $LORA --gradient-checkpointing
fi

echo "| run | bench flags | measured peak RSS MiB | estimate MiB | estimate ÷ measured |"
echo "|---|---|---|---|---|"
for r in "${RUNS[@]}"; do
    read -r name args <<< "$r"
    # shellcheck disable=SC2086
    if "${A4J[@]}" bench ${args//--model /--model $MODELS/} --steps 2 --warmup 1 --threads 2 --json \
            > "$OUT/$name.json" 2> "$OUT/$name.err"; then
        python3 - "$OUT/$name.json" "$name" "$args" <<'PYEOF'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
m, e = d["peak_rss_mb"], d["estimated_peak_mb"]
print(f"| {sys.argv[2]} | `{sys.argv[3]}` | {m:,.0f} | {e:,.0f} | {e / m:.2f} |")
PYEOF
    else
        echo "| $name | \`$args\` | failed: $(grep -m1 -iE 'error|exception' "$OUT/$name.err" | cut -c1-120) | | |"
    fi
done
