#!/usr/bin/env bash
# Issue 20's table of docs/performance.md: bench-medium (56M) at 8 pairs × (64 + 64), 2 threads:
# full DPO, LoRA r16 all-linear (default dropout 0.05), LoRA with a float16 base, LoRA float16 +
# recomputation, and (when Debian's PyTorch is installed) torch_dpo_step.py full and --lora 16,
# alternately for ROUNDS rounds. Prints one line per run (median step, GFLOP/s, share of the matmul
# peak, peak RSS and the planner's estimate); raw JSON stays in OUT.
#
#   bench/lora-speed.sh [ROUNDS] [OUT] [CONFIGS]   (defaults: 3, target/lora-speed, "full lora lora16 lora16gc torch torchlora";
#   also the rest of the eight combinations: full16, fullgc, full16gc, loragc; lora0: dropout 0; lora16wide: float16 base with every product widened, whatever this machine's float16 GEMM does;
#   fullhp, lorahp: full and LoRA with GLIBC_TUNABLES=glibc.malloc.hugetlb=1, huge pages for libtorch's large blocks;
#   fullthp, lorathp, loragcthp: full, LoRA and LoRA + recomputation with THP_MEM_ALLOC_ENABLE=1, libtorch's own switch)
#
# Needs target/align4j.jar (mvn -B -DskipTests package). Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
OUT=${2:-target/lora-speed}
CONFIGS=${3:-full lora lora16 lora16gc torch torchlora}
SHARED=${SHARED:-../shared}
PY=${PY:-/usr/bin/python3}
MEDIUM=${MEDIUM:-/tmp/bench-medium}
export OPT_OUT_TRACKING=true
A4J=(java -Dai.djl.offline=true -jar target/align4j.jar bench --model "$MEDIUM" --pairs 8 --prompt 64 --completion 64
     --steps 5 --warmup 2 --threads 2 --json)
LORA=(--use-peft --lora-r 16 --lora-target-modules all-linear)
mkdir -p "$OUT"
[ -f "$MEDIUM/config.json" ] || "$PY" "$SHARED/bench/make_llama.py" "$MEDIUM"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
summary() {
    "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(sys.argv[2], "median %.3f s, %.1f GFLOP/s (%.0f%% of %.1f), peak RSS %.0f MiB, planned %.0f MiB (%.2f)" % (
        j["median_step_s"], j["achieved_gflops"], 100*j["share_of_peak"], j["matmul_peak_gflops"], j["peak_rss_mb"],
        j["estimated_peak_mb"], j["estimate_over_measured"]))' "$1" "$2"
}
for r in $(seq "$ROUNDS"); do
    for c in $CONFIGS; do
        f="$OUT/$c-$r"
        case $c in
            full) "${A4J[@]}" > "$f.json" ;;
            lora) "${A4J[@]}" "${LORA[@]}" > "$f.json" ;;
            lora0) "${A4J[@]}" "${LORA[@]}" --lora-dropout 0 > "$f.json" ;;
            lora16) "${A4J[@]}" "${LORA[@]}" --torch-dtype float16 > "$f.json" ;;
            lora16gc) "${A4J[@]}" "${LORA[@]}" --torch-dtype float16 --gradient-checkpointing > "$f.json" ;;
            full16) "${A4J[@]}" --torch-dtype float16 > "$f.json" ;;
            fullgc) "${A4J[@]}" --gradient-checkpointing > "$f.json" ;;
            full16gc) "${A4J[@]}" --torch-dtype float16 --gradient-checkpointing > "$f.json" ;;
            loragc) "${A4J[@]}" "${LORA[@]}" --gradient-checkpointing > "$f.json" ;;
            lora16wide) ALIGN4J_HALF_PRODUCTS=float32 "${A4J[@]}" "${LORA[@]}" --torch-dtype float16 > "$f.json" ;;
            fullhp) GLIBC_TUNABLES=glibc.malloc.hugetlb=1 "${A4J[@]}" > "$f.json" ;;
            lorahp) GLIBC_TUNABLES=glibc.malloc.hugetlb=1 "${A4J[@]}" "${LORA[@]}" > "$f.json" ;;
            fullthp) THP_MEM_ALLOC_ENABLE=1 "${A4J[@]}" > "$f.json" ;;
            lorathp) THP_MEM_ALLOC_ENABLE=1 "${A4J[@]}" "${LORA[@]}" > "$f.json" ;;
            loragcthp) THP_MEM_ALLOC_ENABLE=1 "${A4J[@]}" "${LORA[@]}" --gradient-checkpointing > "$f.json" ;;
            torch) "$PY" "$SHARED/bench/torch_dpo_step.py" "$MEDIUM" --steps 5 --threads 2 > "$f.txt"
                   echo "$c-$r $(tr '\n' ' ' < "$f.txt")"; continue ;;
            torchlora) "$PY" "$SHARED/bench/torch_dpo_step.py" "$MEDIUM" --steps 5 --threads 2 --lora 16 > "$f.txt"
                   echo "$c-$r $(tr '\n' ' ' < "$f.txt")"; continue ;;
        esac
        summary "$f.json" "$c-$r"
    done
done
