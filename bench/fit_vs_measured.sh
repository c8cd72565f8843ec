#!/usr/bin/env bash
# Predicted (bottega fit) against measured (bottega bench) pp512 and tg128 for the standard model:
# a synthetic model of TinyLlama 1.1B's shape in each weight type. Prints one Markdown table row
# per type; docs/performance.md keeps the results.
#
#   bench/fit_vs_measured.sh [BOTTEGA_BINARY]
#
# Environment: TYPES (default "F16 Q8_0 Q4_0 Q4_K_M"), REPS (bench repetitions, default 2),
# THREADS (default: bottega's default), WORK (where the models go; default a temporary directory,
# removed at the end), REUSE_BENCH=1 (keep measurements already in WORK: recompute predictions
# only), BOTTEGA_SHARED (the shared fixtures; default ../shared beside the checkout).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/release/bin/bottega}
shared=${BOTTEGA_SHARED:-$here/../../shared}
types=${TYPES:-"F16 Q8_0 Q4_0 Q4_K_M"}
reps=${REPS:-2}
threads=()
if [[ -n "${THREADS:-}" ]]; then threads=(-t "$THREADS"); fi
work=${WORK:-}
if [[ -z "$work" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

echo "| type | file | predicted pp512 | measured pp512 | error | predicted tg128 | measured tg128 | error |"
echo "|---|---|---|---|---|---|---|---|"
for type in $types; do
  model="$work/tinyllama-$type.gguf"
  if [[ ! -f "$model" ]]; then
    "$bin" synth --arch llama --dim 2048 --layers 22 --heads 32 --kv-heads 4 --ffn 5632 \
      --vocab-from "$shared/vocab/ggml-vocab-llama-spm.gguf" --type "$type" -o "$model" >&2
  fi
  "$bin" fit "$model" --ctx 640 --json > "$work/fit-$type.json"
  if [[ "${REUSE_BENCH:-0}" != 1 || ! -s "$work/bench-$type.json" ]]; then
    "$bin" bench -m "$model" -p 512 -n 128 -r "$reps" "${threads[@]}" -o json \
      > "$work/bench-$type.json"
  fi
  python3 - "$type" "$model" "$work/fit-$type.json" "$work/bench-$type.json" <<'PY'
import json, os, sys
type_name, model, fit_path, bench_path = sys.argv[1:]
fit = json.load(open(fit_path))
measured = {}
for row in json.load(open(bench_path)):
    if row["n_prompt"] == 512 and row["n_gen"] == 0:
        measured["pp"] = row["avg_ts"]
    if row["n_prompt"] == 0 and row["n_gen"] == 128:
        measured["tg"] = row["avg_ts"]
pp, tg = fit["speed"]["pp512_tps"], fit["speed"]["tg128_tps"]
def err(p, m):
    return f"{100.0 * (p - m) / m:+.0f}%"
size = os.path.getsize(model) / 2**30
print(f"| {type_name} | {size:.2f} GiB | {pp:.1f} | {measured['pp']:.1f} | {err(pp, measured['pp'])} "
      f"| {tg:.2f} | {measured['tg']:.2f} | {err(tg, measured['tg'])} |")
PY
done
