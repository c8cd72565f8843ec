#!/usr/bin/env bash
# bottega against its peers, llama.cpp and ik_llama.cpp, on the standard model (TinyLlama 1.1B's
# shape with random weights, see bench/README.md): pp512 and tg128 for each weight type, the three
# engines run one after another on the same file, then one Markdown table.
#
#   LLAMA_BENCH=/path/llama-bench IK_LLAMA_BENCH=/path/ik/llama-bench bench/compare.sh
#
# Environment:
#   BOTTEGA         bottega binary (default build/release/bin/bottega beside this script)
#   LLAMA_BENCH     llama.cpp's llama-bench; unset or empty: llama.cpp is skipped
#   IK_LLAMA_BENCH  ik_llama.cpp's llama-bench (run with -rtr 1); unset or empty: skipped
#   THREADS (2), REPS (3), TYPES ("Q4_0 Q8_0 Q4_K_M F16")
#   ROUNDS (1)      times the engines run in turn on each model; each cell is the median of the
#                   rounds. On a host whose memory bandwidth moves within minutes, one run per
#                   engine compares moments more than engines: ROUNDS=3 or 5 interleaves them.
#   WORK            where the models and raw JSON results go (default /tmp/bottega-compare);
#                   models already there are reused
#   BOTTEGA_SHARED  the shared fixtures (default ../shared beside the checkout)
#   SHAPE           synth shape flags (default TinyLlama's); e.g. a quick test:
#                   SHAPE="--dim 256 --layers 2 --heads 8 --kv-heads 4 --ffn 768 --ctx 1024"
#   PP, TG          prompt and generation lengths (512, 128)
#   BOTTEGA_ARGS, LLAMA_ARGS, IK_LLAMA_ARGS  extra flags for each engine's bench (e.g. "-fa 1";
#                   ik_llama.cpp's llama-bench turns flash attention on by default, llama.cpp's off)
set -euo pipefail

die() { echo "compare.sh: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
bottega=${BOTTEGA:-$here/../build/release/bin/bottega}
shared=${BOTTEGA_SHARED:-$here/../../shared}
threads=${THREADS:-2}
reps=${REPS:-3}
rounds=${ROUNDS:-1}
types=${TYPES:-"Q4_0 Q8_0 Q4_K_M F16"}
work=${WORK:-/tmp/bottega-compare}
shape=${SHAPE:-"--dim 2048 --layers 22 --heads 32 --kv-heads 4 --ffn 5632 --ctx 2048"}
pp=${PP:-512}
tg=${TG:-128}
llama=${LLAMA_BENCH:-}
ik=${IK_LLAMA_BENCH:-}
read -r -a bottega_args <<< "${BOTTEGA_ARGS:-}"
read -r -a llama_args <<< "${LLAMA_ARGS:-}"
read -r -a ik_args <<< "${IK_LLAMA_ARGS:-}"
read -r -a shape_args <<< "$shape"
read -r -a type_list <<< "$types"
vocab=$shared/vocab/ggml-vocab-llama-spm.gguf

# Every binary must be there before anything runs.
check_bin() { [[ -x "$2" ]] || die "$1 binary not found or not executable: $2"; }
check_bin bottega "$bottega"
[[ -z "$llama" ]] || check_bin "llama.cpp llama-bench (LLAMA_BENCH)" "$llama"
[[ -z "$ik" ]] || check_bin "ik_llama.cpp llama-bench (IK_LLAMA_BENCH)" "$ik"
[[ -f "$vocab" ]] || die "vocabulary not found: $vocab (set BOTTEGA_SHARED)"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive whole number, not '$rounds'"
command -v node > /dev/null || die "node is needed to read the JSON results"
mkdir -p "$work"

# run NAME OUT CMD...: one benchmark, JSON on stdout to OUT, its log kept beside it.
run() {
  local name=$1 out=$2
  shift 2
  echo "== $name (load average $(cut -d' ' -f1-3 /proc/loadavg)): $*" >&2
  local rc=0
  "$@" > "$out" 2> "${out%.json}.log" || rc=$?
  ((rc == 0)) || die "$name failed (exit $rc): $* (log: ${out%.json}.log)"
  [[ -s "$out" ]] || die "$name wrote no JSON: $* (log: ${out%.json}.log)"
}

for type in "${type_list[@]}"; do
  model=$work/model-$type.gguf
  if [[ ! -f "$model" ]]; then
    echo "== synth $type" >&2
    "$bottega" synth --arch llama "${shape_args[@]}" --vocab-from "$vocab" --type "$type" \
      -o "$model.tmp" >&2 || die "bottega synth --type $type failed"
    mv "$model.tmp" "$model"
  fi
  common=(-m "$model" -p "$pp" -n "$tg" -r "$reps" -t "$threads" -o json)
  for ((round = 1; round <= rounds; ++round)); do
    at="$type-r$round"
    run "bottega $type, round $round" "$work/bottega-$at.json" "$bottega" bench "${common[@]}" \
      "${bottega_args[@]}"
    rm -f "$work/llama-$at.json" "$work/ik-$at.json"
    if [[ -n "$llama" ]]; then
      run "llama.cpp $type, round $round" "$work/llama-$at.json" "$llama" "${common[@]}" \
        "${llama_args[@]}"
    fi
    if [[ -n "$ik" ]]; then
      run "ik_llama.cpp $type, round $round" "$work/ik-$at.json" "$ik" "${common[@]}" -rtr 1 \
        "${ik_args[@]}"
    fi
  done
done

echo
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), threads $threads, reps $reps, rounds $rounds"
echo "bottega: $(git -C "$here" rev-parse --short HEAD 2> /dev/null || echo unknown)"

node - "$work" "$pp" "$tg" "$rounds" "$([[ -n $llama ]] && echo 1 || echo 0)" \
  "$([[ -n $ik ]] && echo 1 || echo 0)" "${type_list[@]}" <<'JS'
const fs = require('fs');
const [work, pp, tg, rounds, haveLlama, haveIk, ...types] = process.argv.slice(2);
const peers = [['llama', 'llama.cpp', haveLlama === '1'], ['ik', 'ik_llama.cpp', haveIk === '1']];
function load(file) {
  // llama-bench prints one JSON array; tolerate log lines before it.
  const text = fs.readFileSync(file, 'utf8');
  const start = text.indexOf('[');
  if (start < 0) throw new Error(`no JSON array in ${file}`);
  return JSON.parse(text.slice(start));
}
// The median over the rounds of one engine's rate for a test (null when no round has it).
function rate(runs, nPrompt, nGen) {
  const values = runs
    .map(rows => rows.find(r => Number(r.n_prompt) === nPrompt && Number(r.n_gen) === nGen))
    .filter(row => row !== undefined)
    .map(row => Number(row.avg_ts))
    .sort((a, b) => a - b);
  if (values.length === 0) return null;
  const mid = Math.floor(values.length / 2);
  return values.length % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}
const loadRounds = (key, type) =>
  Array.from({ length: Number(rounds) }, (_, i) => load(`${work}/${key}-${type}-r${i + 1}.json`));
const fmt = v => (v === null || Number.isNaN(v) ? '-' : v.toFixed(2));
const commits = {};
const lines = [];
for (const type of types) {
  const results = { bottega: loadRounds('bottega', type) };
  for (const [key, name, on] of peers) {
    if (!on) continue;
    results[key] = loadRounds(key, type);
    const first = results[key][0][0];
    if (first && first.build_commit)
      commits[name] = `${first.build_commit} (build ${first.build_number})`;
  }
  for (const [test, np, ng] of [[`pp${pp}`, +pp, 0], [`tg${tg}`, 0, +tg]]) {
    const ours = rate(results.bottega, np, ng);
    const theirs = peers.filter(p => p[2]).map(([key]) => rate(results[key], np, ng));
    const best = Math.max(...theirs.filter(v => v !== null), -Infinity);
    const ratio = ours !== null && best > 0 ? (ours / best).toFixed(2) : '-';
    const cells = [['llama', haveLlama], ['ik', haveIk]].map(([key, on]) =>
      on === '1' ? fmt(rate(results[key], np, ng)) : 'skipped');
    lines.push(`| ${type} | ${test} | ${fmt(ours)} | ${cells.join(' | ')} | ${ratio} |`);
  }
}
for (const [name, commit] of Object.entries(commits)) console.log(`${name}: ${commit}`);
console.log();
console.log('| type | test | bottega t/s | llama.cpp t/s | ik_llama.cpp t/s | bottega / best peer |');
console.log('|---|---|--:|--:|--:|--:|');
for (const line of lines) console.log(line);
JS
