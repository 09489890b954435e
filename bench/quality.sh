#!/usr/bin/env bash
# Quality + cost benchmark (issue 3): fp / RTN / GPTQ / Block-AP /
# Block-AP+E2E-QP perplexity on WikiText-2 test, same calibration text
# (data/calib_en.txt), sample count and seed for every method.
# Each quantization runs alone under /usr/bin/time -v (wall time, peak RSS);
# evaluation is a separate `eqat eval` over every window of the test split.
#
# usage: [SAMPLES=256] [MAX_WINDOWS=0] bench/quality.sh [BUILD_DIR] [ref7m|stories|all|rtn-check]
# The README's tables: MAX_WINDOWS=400 (about 25 min for ref7m, 5 for stories).
# rtn-check: RTN of eqat-ref-7m at every config on every window, to compare
# with the independent reference in models/eqat-ref-7m/expected.json.
# Output: bench/results/quality-<model>.jsonl (one JSON object per row) and a
# markdown table on stdout (bench/format_quality.py).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
WHICH=${2:-all}
EQAT="$BUILD/client/eqat"
SAMPLES=${SAMPLES:-256}
MAX_WINDOWS=${MAX_WINDOWS:-0}   # evaluation windows per row (0: every window)
SEED=${SEED:-0}
WORK=${WORK:-/tmp/eqat-bench}
mkdir -p "$WORK" bench/results

# run_one MODEL_DIR NAME SEQLEN EVAL_SEQLEN BITS GROUP METHOD [extra flags...]
run_one() {
  local model=$1 name=$2 seqlen=$3 eval_seqlen=$4 bits=$5 group=$6 method=$7
  shift 7
  local variant=$method
  local extra=("$@")
  if [ "$method" = "blockap" ]; then method=efficientqat; extra+=(--e2e=false); fi
  local calib=(--calib data/calib_en.txt)
  if [ "$method" = "rtn" ]; then calib=(); fi   # RTN is data-free
  local out="$WORK/$name-$variant-w${bits}g${group}"
  local timelog="$WORK/time.log"
  /usr/bin/time -v "$EQAT" quantize --model "$model" --out "$out" --overwrite \
    --method "$method" --bits "$bits" --group "$group" "${calib[@]}" \
    --samples "$SAMPLES" --seqlen "$seqlen" --seed "$SEED" --progress=false --json \
    "${extra[@]}" > "$WORK/q.log" 2> "$timelog"
  local qjson rss ejson
  qjson=$(tail -n 1 "$WORK/q.log")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$timelog")
  ejson=$("$EQAT" eval --model "$out" --text data/wikitext2_test.raw --seqlen "$eval_seqlen" --max-windows "$MAX_WINDOWS" --batch 8 --json | tail -n 1)
  echo "{\"model\":\"$name\",\"variant\":\"$variant\",\"bits\":$bits,\"group\":$group,\"quant\":$qjson,\"peak_rss_kb\":$rss,\"eval\":$ejson}" \
    | tee -a "bench/results/quality-$name.jsonl"
}

run_fp() {
  local model=$1 name=$2 eval_seqlen=$3
  local ejson
  ejson=$("$EQAT" eval --model "$model" --text data/wikitext2_test.raw --seqlen "$eval_seqlen" --max-windows "$MAX_WINDOWS" --batch 8 --json | tail -n 1)
  echo "{\"model\":\"$name\",\"variant\":\"fp\",\"eval\":$ejson}" | tee -a "bench/results/quality-$name.jsonl"
}

if [ "$WHICH" = ref7m ] || [ "$WHICH" = all ]; then
  : > bench/results/quality-ref7m.jsonl
  run_fp models/eqat-ref-7m ref7m 256
  for cfg in "4 128" "3 128" "2 128" "2 64"; do
    set -- $cfg
    for m in rtn gptq blockap efficientqat; do
      run_one models/eqat-ref-7m ref7m 256 256 "$1" "$2" "$m"
    done
  done
fi
if [ "$WHICH" = stories ] || [ "$WHICH" = all ]; then
  : > bench/results/quality-stories.jsonl
  run_fp models/stories260K stories 512
  for bits in 4 3 2; do
    for m in rtn gptq blockap efficientqat; do
      run_one models/stories260K stories 256 512 "$bits" -1 "$m"
    done
  done
fi
if [ "$WHICH" = rtn-check ]; then
  : > bench/results/quality-rtncheck.jsonl
  for cfg in "4 128" "3 128" "2 128" "2 64"; do
    set -- $cfg
    MAX_WINDOWS=0 run_one models/eqat-ref-7m rtncheck 256 256 "$1" "$2" rtn
  done
fi
python3 bench/format_quality.py bench/results/quality-*.jsonl
