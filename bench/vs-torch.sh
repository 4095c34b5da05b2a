#!/usr/bin/env bash
# The figures of docs/performance.md: align4j's `bench` against ../shared/bench/torch_dpo_step.py
# (the same DPO step written by hand in PyTorch), run alternately on the same checkpoints, shape
# (8 pairs, 64 + 64 tokens) and thread count (2), then the 200-step memory run and one epoch of real
# data with and without length grouping. Prints a Markdown summary; raw outputs stay in OUT.
#
#   bench/vs-torch.sh [ROUNDS] [OUT]        (defaults: 5 rounds, target/vs-torch)
#
# Needs target/align4j.jar (mvn -B -DskipTests package) and, for the peer only, Debian's PyTorch:
# apt-get install -y python3-torch libopenblas0-pthread. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
OUT=${2:-target/vs-torch}
SHARED=${SHARED:-../shared}
PY=${PY:-/usr/bin/python3}
MODELS=${MODELS:-/tmp}
export OPT_OUT_TRACKING=true
A4J=(java -Dai.djl.offline=true -jar target/align4j.jar)
SHAPE=(--pairs 8 --prompt 64 --completion 64 --steps 10 --threads 2)
mkdir -p "$OUT"

[ -f "$MODELS/bench-small/config.json" ] || "$PY" "$SHARED/bench/make_llama.py" "$MODELS/bench-small" \
    --hidden 256 --layers 4 --heads 8 --kv-heads 4 --intermediate 704 --vocab 8192
[ -f "$MODELS/bench-medium/config.json" ] || "$PY" "$SHARED/bench/make_llama.py" "$MODELS/bench-medium"

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "java: $(java -version 2>&1 | head -1)"
    echo "torch: $("$PY" -c 'import torch; print(torch.__version__)')"
} > "$OUT/machine.txt"

for r in $(seq "$ROUNDS"); do
    for m in small medium; do
        /usr/bin/time -f %M -o "$OUT/torch-$m-$r.rss" "$PY" "$SHARED/bench/torch_dpo_step.py" "$MODELS/bench-$m" \
            "${SHAPE[@]}" > "$OUT/torch-$m-$r.txt"
        /usr/bin/time -f %M -o "$OUT/align4j-$m-$r.rss" "${A4J[@]}" bench --model "$MODELS/bench-$m" "${SHAPE[@]}" \
            --json > "$OUT/align4j-$m-$r.json"
    done
    "${A4J[@]}" bench --model "$MODELS/bench-medium" "${SHAPE[@]}" --precompute-ref --json > "$OUT/align4j-medium-pre-$r.json"
    echo "round $r of $ROUNDS done" >&2
done

"${A4J[@]}" bench --model "$MODELS/bench-small" --pairs 8 --prompt 64 --completion 64 --steps 200 --warmup 5 \
    --threads 2 --json > "$OUT/align4j-small-200.json"
for g in true false; do
    "${A4J[@]}" bench --model "$MODELS/bench-small" --data "$SHARED/data/preference/llamafactory_dpo_en_demo.json" \
        --tokenizer "$SHARED/data/tokenizers/phi-3-mini" --threads 2 --group-by-length $g --cache-dir "$OUT/cache" \
        --json > "$OUT/align4j-data-group-$g.json"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"

"$PY" - "$OUT" "$ROUNDS" <<'PYEOF'
import json, statistics as st, sys, pathlib
out, rounds = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def j(name): return json.loads((out / name).read_text().strip().splitlines()[-1])
def torch(name):
    kv = dict(l.split("=", 1) for l in (out / name).read_text().split() if "=" in l)
    return float(kv["tokens_per_s"]), float(kv["median_step_s"])
def rss(name): return int((out / name).read_text().split()[-1]) / 1024
print((out / "machine.txt").read_text())
print("| model | PyTorch tokens/s | align4j tokens/s | ratio (median of rounds) | PyTorch peak RSS MiB | align4j peak RSS MiB | RSS ratio |")
print("|---|---|---|---|---|---|---|")
for m in ("small", "medium"):
    t = [torch(f"torch-{m}-{r}.txt")[0] for r in range(1, rounds + 1)]
    a = [j(f"align4j-{m}-{r}.json")["tokens_per_second"] for r in range(1, rounds + 1)]
    ratio = st.median([x / y for x, y in zip(a, t)])
    tr = st.median(rss(f"torch-{m}-{r}.rss") for r in range(1, rounds + 1))
    ar = st.median(rss(f"align4j-{m}-{r}.rss") for r in range(1, rounds + 1))
    print(f"| bench-{m} | {st.median(t):,.0f} | {st.median(a):,.0f} | {ratio:.2f} (rounds {min(x/y for x,y in zip(a,t)):.2f}-{max(x/y for x,y in zip(a,t)):.2f}) | {tr:,.0f} | {ar:,.0f} | {ar/tr:.2f} |")
live = [j(f"align4j-medium-{r}.json")["median_step_s"] for r in range(1, rounds + 1)]
pre = [j(f"align4j-medium-pre-{r}.json")["median_step_s"] for r in range(1, rounds + 1)]
print(f"\nbench-medium step: live reference {st.median(live):.3f} s, --precompute-ref {st.median(pre):.3f} s: "
      f"{100 * (1 - st.median(pre) / st.median(live)):.0f}% faster (per round: "
      + ", ".join(f"{100 * (1 - p / l):.0f}%" for p, l in zip(pre, live)) + ")")
s = j("align4j-small-200.json")
print(f"\n200 steps on bench-small: live arrays {s['live_arrays_after_warmup']} after warm-up, {s['live_arrays_end']} at the end; "
      f"RSS by tenth (MiB) {s['rss_mb_by_tenth']}; peak {s['peak_rss_mb']:.0f} MiB; median step {s['median_step_s']:.3f} s")
print("\n| llamafactory_dpo_en_demo.json, one epoch | padding fraction | epoch s | tokens/s |")
print("|---|---|---|---|")
for g in ("true", "false"):
    d = j(f"align4j-data-group-{g}.json")
    print(f"| --group-by-length {g} | {d['padding_fraction']:.3f} | {d['total_step_s']:.1f} | {d['tokens_per_second']:,.0f} |")
PYEOF
