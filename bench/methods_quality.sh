#!/usr/bin/env bash
# Method table (issue 12): RTN, GPTQ, Block-AP, Block-AP + E2E-QP, LR-QAT and
# ApiQ on eqat-ref-7m at W2g64, W3g128 and W4g128, each judged by perplexity
# on the whole WikiText-2 test (seqlen 256, every window).
#
# Data: data/calib_en.txt is cut into two files by runs of LINES_PER_RUN
# lines, 11 of every 20 runs to the first (both keep the Wikipedia and
# handbook parts; about 300K and 246K tokens of eqat-ref-7m's tokenizer):
#   calib-ap.txt   the Block-AP calibration text of every method;
#   calib-e2e.txt  E2E-QP's text, so E2E windows are disjoint from every
#                  calibration window.
# Every method reads the same SAMPLES windows of SEQLEN tokens of calib-ap.txt
# (the same shuffled non-overlapping grid, seed 0; the trained methods also
# take the next VAL windows as validation). The Block-AP row is the
# efficientqat run's own evaluation after Block-AP (`block_ap_ppl`), so it
# and the Block-AP + E2E-QP row share the same trained blocks.
# E2E-QP: the official recipe (one epoch, 3% warm-up from 0, cosine to 0)
# scaled to this model: E2E_SAMPLES windows of SEQLEN tokens, E2E_BATCH x
# E2E_ACCUM windows per step.
#
# usage: bench/methods_quality.sh [BUILD_DIR] [CONFIGS...]   (configs: w2g64 w3g128 w4g128)
# Output: bench/results/methods-ref7m.jsonl (one JSON object per run) and a
# markdown table with the gap closed on stdout (bench/format_methods.py).
# Cost: each quantization runs alone under /usr/bin/time -v.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true
CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(w2g64 w3g128 w4g128)
EQAT="$BUILD/client/eqat"
MODEL=models/eqat-ref-7m
EVAL=data/wikitext2_test.raw
SAMPLES=${SAMPLES:-1024}
VAL=${VAL:-64}
SEQLEN=${SEQLEN:-256}
E2E_SAMPLES=${E2E_SAMPLES:-896}
E2E_BATCH=${E2E_BATCH:-4}
E2E_ACCUM=${E2E_ACCUM:-2}
LINES_PER_RUN=${LINES_PER_RUN:-40}
SEED=${SEED:-0}
WORK=${WORK:-/tmp/eqat-methods}
RESULTS=${RESULTS:-bench/results/methods-ref7m.jsonl}
mkdir -p "$WORK" "$(dirname "$RESULTS")"

# Runs 0-10 of every 20 runs of LINES_PER_RUN lines to the Block-AP text, 11-19 to E2E.
awk -v n="$LINES_PER_RUN" -v ap="$WORK/calib-ap.txt" -v e2e="$WORK/calib-e2e.txt" \
  '{ if (int((NR - 1) / n) % 20 < 11) print > ap; else print > e2e }' data/calib_en.txt

# eval_json OUT [--adapter DIR]: the whole test split, as one JSON line.
eval_json() {
  local out=$1
  shift
  "$EQAT" eval --model "$out" "$@" --text "$EVAL" --seqlen "$SEQLEN" --max-windows 0 \
    --batch 8 --json | tail -n 1
}

# run METHOD BITS GROUP [flags...]: one quantization (timed alone), then its evaluation.
run() {
  local method=$1 bits=$2 group=$3
  shift 3
  local out="$WORK/$method-w${bits}g${group}"
  local calib=(--calib "$WORK/calib-ap.txt" --samples "$SAMPLES" --seqlen "$SEQLEN")
  [ "$method" = rtn ] && calib=()   # RTN is data-free
  /usr/bin/time -v "$EQAT" quantize --model "$MODEL" --out "$out" --overwrite \
    --method "$method" --bits "$bits" --group "$group" "${calib[@]}" --seed "$SEED" \
    --progress=false --json "$@" > "$WORK/q.log" 2> "$WORK/time.log" || {
    cat "$WORK/q.log" "$WORK/time.log" >&2
    return 1
  }
  local qjson rss ejson=null
  qjson=$(tail -n 1 "$WORK/q.log")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.log")
  case "$method" in
    efficientqat) ;;   # evaluated inside the job (after Block-AP and after E2E-QP)
    apiq) ejson=$(eval_json "$out" --adapter "$out/adapter") ;;
    *) ejson=$(eval_json "$out") ;;
  esac
  echo "{\"model\":\"eqat-ref-7m\",\"method\":\"$method\",\"bits\":$bits,\"group\":$group,\"samples\":$SAMPLES,\"seqlen\":$SEQLEN,\"quant\":$qjson,\"peak_rss_kb\":$rss,\"eval\":$ejson}" \
    | tee -a "$RESULTS"
}

for cfg in "${CONFIGS[@]}"; do
  case "$cfg" in
    w2g64) bits=2 group=64 ;;
    w3g128) bits=3 group=128 ;;
    w4g128) bits=4 group=128 ;;
    *) echo "unknown config $cfg (w2g64, w3g128, w4g128)" >&2; exit 2 ;;
  esac
  run rtn $bits $group
  run gptq $bits $group
  run efficientqat $bits $group --val-samples "$VAL" --e2e-data "$WORK/calib-e2e.txt" \
    --e2e-samples "$E2E_SAMPLES" --e2e-seqlen "$SEQLEN" --e2e-batch "$E2E_BATCH" \
    --e2e-accum "$E2E_ACCUM" --eval-text "$EVAL" --eval-seqlen "$SEQLEN" --eval-max-windows 0
  run lrqat $bits $group --val-samples "$VAL"
  run apiq $bits $group --val-samples "$VAL"
done
python3 bench/format_methods.py "$RESULTS"
