#!/usr/bin/env bash
# Checks the memory plan (common/job/memory_plan.h) against measured peak RSS:
# representative small `eqat quantize` jobs on eqat-ref-7m, each under
# /usr/bin/time -v. Compared per run:
#   block stage: ru_maxrss when the block stage ends (the --json summary's
#                block_stage_peak_rss_mib) vs the stage's estimate;
#   whole run:   "Maximum resident set size" vs the plan's peak (the larger
#                of the block stage and finalize).
# Prints a markdown table and exits 1 when a figure is off by more than 25%.
# usage: [RUNS="name:flags;..."] bench/memory_plan_check.sh [BUILD_DIR] [MODEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
MODEL=${2:-models/eqat-ref-7m}
[ -d "$MODEL" ] || MODEL=/work/shared/models/eqat-ref-7m
EQAT="$BUILD/client/eqat"
WORK=$(mktemp -d /tmp/eqat-memplan.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
COMMON=(--model "$MODEL" --calib data/calib_en.txt --bits 2 --group 64 --seed 0 --progress=false
        --json --overwrite --spill-dir "$WORK")
DEFAULT_RUNS="bap+e2e 128x256:--samples 128 --seqlen 256 --epochs 1 --e2e-samples 32;\
512 tok, ap-batch 4:--samples 64 --seqlen 512 --epochs 1 --ap-batch 4 --e2e-samples 16 --e2e-seqlen 512;\
spilled 4M + eval:--samples 128 --seqlen 256 --epochs 1 --e2e=false --cache-budget 4M --eval-text data/wikitext2_test.raw --eval-seqlen 256 --eval-max-windows 16;\
e2e-dominated 1024 tok:--samples 32 --seqlen 256 --epochs 1 --e2e-samples 16 --e2e-seqlen 1024 --e2e-batch 2"
IFS=';' read -r -a runs <<< "${RUNS:-$DEFAULT_RUNS}"
echo "| run | block stage measured (MiB) | estimated (MiB) | ratio | peak RSS measured (MiB) | estimated peak (MiB) | ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|"
fail=0
for run in "${runs[@]}"; do
  name=${run%%:*}
  read -r -a flags <<< "${run#*:}"
  /usr/bin/time -v "$EQAT" quantize "${COMMON[@]}" --out "$WORK/out" "${flags[@]}" \
    > "$WORK/log" 2> "$WORK/time" || { echo "$name: eqat failed"; cat "$WORK/log" "$WORK/time"; exit 1; }
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$WORK/time")
  line=$(python3 - "$rss" "$(tail -n 1 "$WORK/log")" <<'PY'
import json, sys
rss = float(sys.argv[1]); j = json.loads(sys.argv[2])
bm, be = j["block_stage_peak_rss_mib"], j["estimated_block_stage_mib"]
pe = j["estimated_peak_rss_mib"]
r1, r2 = be / bm, pe / rss
bad = int(abs(r1 - 1) > 0.25 or abs(r2 - 1) > 0.25)
print(f"{bm:.0f} | {be:.0f} | {r1:.2f} | {rss:.0f} | {pe:.0f} | {r2:.2f} |{bad}")
PY
)
  bad=${line##*|}
  echo "| $name | ${line%|*}"
  [ "$bad" = 0 ] || fail=1
done
# The process baseline: RTN on the same model (weights only, no activations).
/usr/bin/time -v "$EQAT" quantize --model "$MODEL" --out "$WORK/rtn" --overwrite --method rtn \
  --bits 4 --group 128 --progress=false > /dev/null 2> "$WORK/time"
echo
echo "RTN (baseline + fp32 weights): $(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$WORK/time") MiB peak RSS"
exit $fail
