#!/usr/bin/env bash
# Peak RSS of Block-AP vs calibration sample count, with the activation cache
# capped by --cache-budget (beyond it: memory-mapped spill files). With a
# budget smaller than the activations, peak RSS must stay flat as the sample
# count grows; without a cap it grows with the samples.
# usage: [RUNS="BUDGET:N ..."] bench/cache_rss.sh [BUILD_DIR]   -> markdown table on stdout
set -euo pipefail
cd "$(dirname "$0")/.."
EQAT="${1:-build}/client/eqat"
WORK=$(mktemp -d /tmp/eqat-rss.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "| samples x 512 tok | activations per set (MiB) | --cache-budget | peak RSS (MiB) | wall (s) |"
echo "|---:|---:|---|---:|---:|"
for run in ${RUNS:-16M:256 16M:1024 16M:2048 4G:256 4G:2048}; do
  budget=${run%%:*} n=${run##*:}
  {
    /usr/bin/time -v "$EQAT" quantize --model models/stories260K --out "$WORK/out" --overwrite \
      --method efficientqat --e2e=false --bits 2 --group -1 --calib data/calib_en.txt \
      --samples "$n" --seqlen 512 --epochs 1 --ap-batch 16 --cache-budget "$budget" --spill-dir "$WORK" \
      --progress=false > "$WORK/log" 2> "$WORK/time"
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$WORK/time")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time")
    act=$(( n * 512 * 64 * 4 / 1048576 ))
    echo "| $n | $act | $budget | $rss | $wall |"
  }
done
