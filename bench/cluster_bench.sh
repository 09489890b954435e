#!/usr/bin/env bash
# Distributed wall-time benchmark (issue 4): one job on 1 vs 2 CPU workers
# under both schedules, and 2 jobs queued on 2 workers (sequential), on the
# bundled stories260K (EfficientQAT W2 g-1). Workers run 1 thread each so
# that 2 workers use the same 2 cores a local run would.
# Every job ends with E2E-QP and an evaluation of 100 WikiText-2 windows
# (the ppl column), included in its wall time.
# usage: bench/cluster_bench.sh [BUILD_DIR]   -> markdown table on stdout
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$REPO/build}" && pwd)
EQAT="$BUILD/client/eqat"
WORK=$(mktemp -d /tmp/eqat-cbench.XXXXXX)
STATE="$WORK/cluster"
trap '"$REPO/deploy/local-cluster.sh" stop --state-dir "$STATE" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
JOB=(--model "$REPO/models/stories260K" --method efficientqat --bits 2 --group -1
     --calib "$REPO/data/calib_en.txt" --samples 256 --seqlen 256 --progress=false
     --eval-text "$REPO/data/wikitext2_test.raw" --eval-seqlen 512 --eval-max-windows 100)

start_cluster() {  # start_cluster N
  "$REPO/deploy/local-cluster.sh" stop --state-dir "$STATE" >/dev/null 2>&1 || true
  rm -rf "$STATE"
  "$REPO/deploy/local-cluster.sh" "$1" --build "$BUILD" --state-dir "$STATE" --base-port 23400 \
    --allowed-root "$REPO,$WORK" --worker-arg --threads=1 --no-prometheus > "$WORK/start.log" 2>&1
  set -a; source "$STATE/cluster.env"; set +a
  sleep 3
}

# run_job CMD... (an `eqat submit --wait`) -> "total_s blockap_s ppl": total
# wall time, time until the finalize stage was assigned (the Block-AP phase),
# and the quantized perplexity from the "done:" line.
run_job() {
  local t0 line now bap=- ppl=-
  t0=$(date +%s.%N)
  while IFS= read -r line; do
    now=$(date +%s.%N)
    case "$line" in
      *"finalize (assemble"*) bap=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }') ;;
      "done:"*) ppl=$(echo "$line" | sed -n 's/.* ppl \([0-9.]*\).*/\1/p') ;;
    esac
  done < <("$@" 2>&1)
  now=$(date +%s.%N)
  awk -v a="$t0" -v b="$now" -v c="$bap" -v p="$ppl" 'BEGIN { printf "%.1f %s %s\n", b - a, c, p }'
}

echo "| setup | schedule | jobs | wall (s) | Block-AP phase (s) | ppl |"
echo "|---|---|---:|---:|---:|---:|"
for n in 1 2; do
  start_cluster "$n"
  for sched in sequential pipelined; do
    read -r t b p < <(run_job "$EQAT" submit --coordinator "$COORDINATOR" "${JOB[@]}" --schedule "$sched" \
          --out "$WORK/o-$n-$sched" --wait)
    echo "| $n worker(s) | $sched | 1 | $t | $b | $p |"
  done
done
# Two jobs queued on two workers.
t0=$(date +%s.%N)
"$EQAT" submit --coordinator "$COORDINATOR" "${JOB[@]}" --out "$WORK/q1" --wait > /dev/null &
"$EQAT" submit --coordinator "$COORDINATOR" "${JOB[@]}" --out "$WORK/q2" --seed 1 --wait > /dev/null
wait
t1=$(date +%s.%N)
echo "| 2 workers | sequential | 2 | $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') | - | - |"
# The same job in one process (--json: wall_seconds, block_stage_seconds, ppl).
local_json=$("$EQAT" quantize "${JOB[@]}" --out "$WORK/local" --threads 2 --json | tail -n 1)
field() { echo "$local_json" | grep -o "\"$1\":[0-9.e+-]*" | head -n 1 | cut -d: -f2; }
printf "| local eqat quantize (2 threads) | - | 1 | %.1f | %.1f | %s |\n" "$(field wall_seconds)" \
  "$(field block_stage_seconds)" "$(field ppl)"
