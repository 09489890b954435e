#!/usr/bin/env bash
# faults.sh: fault injection on a secure 2-worker local cluster. For each
# scenario and schedule, TRIALS jobs (stories260K, EfficientQAT W2, small)
# each get one fault at a random moment of their run:
#   coord-kill    kill -9 of the coordinator, restarted at once (same flags)
#   worker-kill   kill -9 of the worker running a stage, restarted
#   both-kill     kill -9 of the coordinator and of one worker, both restarted
#   worker-stop   SIGSTOP of a worker past its heartbeat timeout, then SIGCONT
# Every trial must end SUCCEEDED. Sequential outputs are compared with an
# uninterrupted run of the same spec (model.safetensors, byte for byte), and
# after a coordinator restart the workers' eqat_blocks_completed_total must
# grow by exactly the job's block count ("recomputed_blocks" counts the
# excess: a block finished before the kill and packed again, or the block in
# flight at the kill, which its old assignment finishes but can no longer
# report, packed a second time by the new one).
#   bench/faults.sh [BUILD_DIR] [TRIALS] [SCENARIOS] [SCHEDULES]
#   (defaults: build, 20, "coord-kill worker-kill both-kill worker-stop",
#    "sequential pipelined")
# One JSON line per trial on stdout, then one summary line per scenario and
# schedule; exit 0 only when every trial succeeded.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$REPO/build}" && pwd)
TRIALS=${2:-20}
SCENARIOS=${3:-"coord-kill worker-kill both-kill worker-stop"}
SCHEDULES=${4:-"sequential pipelined"}
EQAT="$BUILD/client/eqat"
WORK=$(mktemp -d /tmp/eqat-faults.XXXXXX)
STATE="$WORK/cluster"
TIMEOUT_S=4     # coordinator --worker-timeout-s
trap '"$REPO/deploy/local-cluster.sh" stop --state-dir "$STATE" >/dev/null 2>&1; rm -rf "$WORK"' EXIT

JOB=(--model "$REPO/models/stories260K" --method efficientqat --bits 2 --group -1
     --calib "$REPO/data/calib_en.txt" --samples 32 --seqlen 128 --e2e-samples 32 --e2e-seqlen 128
     --e2e-batch 2 --e2e-accum 1
     --eval-text "$REPO/data/wikitext2_test.raw" --eval-seqlen 512 --eval-max-windows 20)

"$REPO/deploy/local-cluster.sh" 2 --build "$BUILD" --state-dir "$STATE" --base-port 25400 \
  --allowed-root "$REPO,$WORK" --worker-arg --threads=1 --coordinator-arg --worker-timeout-s=$TIMEOUT_S \
  --no-prometheus >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log"; exit 1; }
set -a; source "$STATE/cluster.env"; set +a
C=$COORDINATOR

pid_of() { awk -v n="$1" '$1 == n {print $2}' "$STATE/pids" | tail -n 1; }
# kill9_restart NAME: kill -9, then start it again with the same argv and log.
kill9_restart() {
  local name=$1 pid exe
  pid=$(pid_of "$name")
  [[ -n "$pid" && -d /proc/$pid ]] || return 1
  mapfile -d '' argv <"/proc/$pid/cmdline"
  exe=$(readlink "/proc/$pid/exe")
  kill -9 "$pid"
  while [[ -d /proc/$pid ]]; do sleep 0.05; done
  "${argv[@]}" </dev/null >>"$STATE/logs/$name.log" 2>&1 &
  echo "$name $! $exe" >>"$STATE/pids"
}
# The worker whose stage 0 (or any stage) is running, as its pids-file name.
running_worker() {
  local id log
  id=$("$EQAT" status --coordinator "$C" "$1" 2>/dev/null | awk '/stage [0-9]/ && /running/ {print $6; exit}')
  [[ -n "$id" ]] || return 1
  for log in "$STATE"/logs/worker-*.log; do
    if grep -q "registered as $id" "$log"; then basename "$log" .log; return 0; fi
  done
  return 1
}
job_state() { "$EQAT" status --coordinator "$C" "$1" --json 2>/dev/null | grep -o '"state":"[A-Z]*"' | cut -d'"' -f4; }
wait_final() {  # wait_final JOB SECONDS
  local end=$((SECONDS + $2)) s
  while (( SECONDS < end )); do
    s=$(job_state "$1")
    case "$s" in SUCCEEDED|FAILED|CANCELLED) echo "$s"; return 0 ;; esac
    sleep 0.5
  done
  echo "HUNG"
}
# Blocks packed by both workers so far (their eqat_blocks_completed_total;
# workers keep counting across a coordinator restart, whose own events and
# counters start afresh).
packed_total() {
  local i sum=0 v
  for i in 0 1; do
    v=$(exec 3<>"/dev/tcp/127.0.0.1/$((25411 + 2 * i))" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 &&
        timeout 5 cat <&3 | awk '$1 == "eqat_blocks_completed_total" {print $2 + 0; exit}')
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
NBLOCKS=5  # stories260K

declare -A REF
for sched in $SCHEDULES; do
  ref_json=$("$EQAT" submit --coordinator "$C" "${JOB[@]}" --schedule "$sched" --out "$WORK/ref-$sched" \
    --wait --json --progress=false 2>&1 | tail -n 1)
  REF[$sched]=$(echo "$ref_json" | grep -o '"wall_seconds":[0-9.]*' | cut -d: -f2)
  [[ -n "${REF[$sched]}" ]] || { echo "reference $sched run failed: $ref_json" >&2; exit 1; }
done

all_ok=1
for scen in $SCENARIOS; do
  for sched in $SCHEDULES; do
    ok=0 identical=0 recomputed=0
    for t in $(seq 1 "$TRIALS"); do
      out="$WORK/$scen-$sched-$t"
      packed0=$(packed_total)
      id=$("$EQAT" submit --coordinator "$C" "${JOB[@]}" --schedule "$sched" --out "$out" --json 2>/dev/null |
           grep -o '"id":"[^"]*"' | cut -d'"' -f4)
      # A random moment within the reference run's wall time.
      delay=$(python3 -c "import random; print(round(random.uniform(0.5, max(1.0, 0.95 * ${REF[$sched]})), 2))")
      sleep "$delay"
      before=$("$EQAT" status --coordinator "$C" "$id" --json 2>/dev/null | grep -o '"blocks_done":[0-9]*' | head -n 1 | cut -d: -f2)
      stage=$("$EQAT" status --coordinator "$C" "$id" --json 2>/dev/null | grep -o '"stage":"[a-z-]*"' | head -n 1 | cut -d'"' -f4)
      victim=$(running_worker "$id" || echo worker-$((t % 2)))
      case "$scen" in
        coord-kill) kill9_restart coordinator ;;
        worker-kill) kill9_restart "$victim" ;;
        both-kill) kill9_restart coordinator; kill9_restart "$victim" ;;
        worker-stop)
          p=$(pid_of "$victim"); kill -STOP "$p"; sleep $((2 * TIMEOUT_S + 1)); kill -CONT "$p" ;;
      esac
      fin=$(wait_final "$id" 300)
      same=null
      if [[ "$sched" == sequential && "$fin" == SUCCEEDED ]]; then
        if cmp -s "$out/model.safetensors" "$WORK/ref-$sched/model.safetensors"; then same=true; else same=false; fi
        [[ "$same" == true ]] && identical=$((identical + 1))
      fi
      re=0
      [[ "$scen" == coord-kill ]] && re=$(( $(packed_total) - packed0 - NBLOCKS ))
      recomputed=$((recomputed + re))
      [[ "$fin" == SUCCEEDED ]] && ok=$((ok + 1)) || all_ok=0
      echo "{\"scenario\":\"$scen\",\"schedule\":\"$sched\",\"trial\":$t,\"fault_at_s\":$delay,\"stage\":\"${stage:-?}\",\"blocks_done_before\":${before:-0},\"victim\":\"$victim\",\"final\":\"$fin\",\"bit_identical\":$same,\"recomputed_blocks\":$re}"
    done
    echo "{\"summary\":true,\"scenario\":\"$scen\",\"schedule\":\"$sched\",\"trials\":$TRIALS,\"succeeded\":$ok,\"bit_identical\":$identical,\"recomputed_blocks\":$recomputed}"
  done
done
(( all_ok ))
