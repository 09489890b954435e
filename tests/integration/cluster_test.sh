#!/usr/bin/env bash
# Integration test of the distributed service with real processes on
# 127.0.0.1: deploy/local-cluster.sh 2 starts a coordinator, two workers and
# Prometheus. Checks, each printed as PASS/FAIL:
#   1. promtool accepts the coordinator's and a worker's /metrics, and the
#      Prometheus server scrapes every target; the coordinator exports only
#      eqat_coordinator_* names (besides process_* and prometheus-cpp's
#      exposer_*), the workers none of those
#   2. a local `eqat quantize` and a one-worker cluster run write
#      bit-identical folders; the sequential schedule over 2 workers gives
#      the local perplexity within 0.5%, and the workers'
#      eqat_blocks_completed_total add up to the coordinator's
#      eqat_coordinator_blocks_completed_total
#   3. the pipelined schedule completes (its perplexity is printed) and its
#      stages overlap (stage 0 streams to stage 1 while it trains)
#   4. cancelling a running job leaves the cluster ready: the next job succeeds
#   5. killing the worker of a running stage ends in a reassignment (or a
#      failure) with a clear event, never a hang
#   3b. an RTN job without calibration over 2 stages succeeds (nothing streams)
#   6. the cluster is secure by default: the client reaches it over TLS with
#      the CA and admin token of cluster.env; without a token, with a wrong
#      one, or in plaintext it is refused; a worker without a certificate
#      never registers
# usage: tests/integration/cluster_test.sh BUILD_DIR
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$REPO/build}" && pwd)
EQAT="$BUILD/client/eqat"
WORK=$(mktemp -d /tmp/eqat-it.XXXXXX)
PORT=$((20000 + ($$ % 2000) * 10))
STATE="$WORK/cluster"
passed=0
failed=0
cleanup() {
  "$REPO/deploy/local-cluster.sh" stop --state-dir "$STATE" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

http_get() {  # http_get HOST:PORT PATH -> body on stdout (10 s at most)
  timeout 10 bash -c 'exec 9<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$2" "$1" >&9
    sed "1,/^\r\{0,1\}$/d" <&9' _ "$1" "$2"
}

# Common job flags: a small but real EfficientQAT W2 run of the bundled model.
JOB=(--model "$REPO/models/stories260K" --method efficientqat --bits 2 --group -1
     --calib "$REPO/data/calib_en.txt" --samples 32 --seqlen 128 --e2e-samples 32 --e2e-seqlen 128
     --e2e-batch 2 --e2e-accum 1
     --eval-text "$REPO/data/wikitext2_test.raw" --eval-seqlen 512 --eval-max-windows 20)

"$REPO/deploy/local-cluster.sh" 2 --build "$BUILD" --state-dir "$STATE" --base-port "$PORT" \
  --allowed-root "$REPO,$WORK" --worker-arg --threads=1 --coordinator-arg --worker-timeout-s=4 \
  --timeout 90 > "$WORK/cluster.log" 2>&1 || { cat "$WORK/cluster.log"; echo "0 passed, 1 failed"; exit 1; }
set -a
source "$STATE/cluster.env"
set +a
C=$COORDINATOR

# 6. secure by default (before any job, so refusals can be seen to change nothing)
if [ -n "${EQAT_TLS_CA:-}" ] && [ -n "${EQAT_TOKEN_FILE:-}" ] && "$EQAT" list --coordinator "$C" > /dev/null 2>&1; then
  ok "client over TLS with the cluster CA and admin token from cluster.env"
else bad "client over TLS: EQAT_TLS_CA='${EQAT_TLS_CA:-}' EQAT_TOKEN_FILE='${EQAT_TOKEN_FILE:-}'"; fi
out=$(env -u EQAT_TOKEN_FILE "$EQAT" list --coordinator "$C" 2>&1); rc=$?
if [ $rc -eq 2 ] && echo "$out" | grep -q "missing or invalid bearer token"; then
  ok "no token: refused (exit 2, '$out')"
else bad "no token: rc $rc: $out"; fi
out=$(EQAT_TOKEN=0123456789abcdef0123 "$EQAT" list --coordinator "$C" 2>&1); rc=$?
if [ $rc -eq 2 ] && echo "$out" | grep -q "missing or invalid bearer token"; then
  ok "wrong token: refused"
else bad "wrong token: rc $rc: $out"; fi
out=$(timeout 20 "$EQAT" list --coordinator "$C" --insecure 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "unreachable"; then ok "plaintext client: no connection"
else bad "plaintext client: rc $rc: $out"; fi
# A worker certificate of another CA (made the same way, so only the CA differs).
bash "$REPO/deploy/make-certs.sh" "$WORK/rogue-tls"
timeout 6 "$BUILD/worker/eqat-worker" --coordinator "$C" --tls-ca "$EQAT_TLS_CA" \
  --tls-cert "$WORK/rogue-tls/worker.pem" --tls-key "$WORK/rogue-tls/worker.key" \
  --listen 127.0.0.1:0 --threads 1 > "$WORK/rogue.log" 2>&1; rc=$?
out=$(timeout 20 "$EQAT" list --coordinator "$C" --json)
if [ $rc -ne 0 ] && ! grep -q "registered as" "$WORK/rogue.log" && [ "$out" = "[]" ]; then
  ok "a worker with a certificate of another CA never registers (rc $rc) and no job appeared"
else bad "rogue worker: rc $rc, jobs $out: $(tail -n 3 "$WORK/rogue.log")"; fi

# Wait until both workers are registered.
for _ in $(seq 1 60); do
  up=$(http_get "$COORDINATOR_METRICS" /metrics | grep -c '^eqat_coordinator_worker_up{.*} 1')
  [ "$up" -ge 2 ] && break
  sleep 0.5
done

# 1. metrics
if http_get "$COORDINATOR_METRICS" /metrics > "$WORK/coord.prom" &&
   promtool check metrics < "$WORK/coord.prom" > "$WORK/promtool.out" 2>&1 && [ ! -s "$WORK/promtool.out" ]; then
  ok "coordinator /metrics passes promtool check metrics"
else bad "coordinator /metrics: $(cat "$WORK/promtool.out")"; fi
WM="127.0.0.1:$((PORT + 11))"   # worker 0's metrics (deploy/local-cluster.sh port layout)
if [ -n "$WM" ] && http_get "$WM" /metrics > "$WORK/worker.prom" &&
   promtool check metrics < "$WORK/worker.prom" > "$WORK/promtool.out" 2>&1 && [ ! -s "$WORK/promtool.out" ]; then
  ok "worker /metrics ($WM) passes promtool check metrics"
else bad "worker /metrics ($WM): $(cat "$WORK/promtool.out" 2>/dev/null)"; fi
families() { grep -o '^# TYPE [a-zA-Z0-9_:]*' "$1" | cut -d' ' -f3 | sort -u; }
coord_other=$(families "$WORK/coord.prom" | grep -v -E '^(eqat_coordinator_|process_|exposer_)' | tr '\n' ' ')
worker_coord=$(families "$WORK/worker.prom" | grep -E '^eqat_coordinator_' | tr '\n' ' ')
if [ -s "$WORK/coord.prom" ] && [ -s "$WORK/worker.prom" ] && [ -z "$coord_other" ] && [ -z "$worker_coord" ] &&
   grep -q '^# TYPE eqat_coordinator_blocks_completed_total counter' "$WORK/coord.prom" &&
   grep -q '^# TYPE eqat_blocks_completed_total counter' "$WORK/worker.prom"; then
  ok "metric names: coordinator only eqat_coordinator_*/process_*/exposer_*, workers no eqat_coordinator_*"
else bad "metric names: coordinator exports '$coord_other', worker exports '$worker_coord'"; fi

# 2. one pipeline: a local `eqat quantize` and a one-worker cluster run of the
#    same spec (same seed, one thread each) write the same folder, byte for
#    byte; over two workers (two stages, streamed hand-over) the perplexity
#    matches within 0.5%.
one_json=$("$EQAT" submit --coordinator "$C" "${JOB[@]}" --max-stages 1 --out "$WORK/one" --wait --json --progress=false | tail -n 1)
local_json=$("$EQAT" quantize "${JOB[@]}" --out "$WORK/local" --threads 1 --json --progress=false | tail -n 1)
differ=""
for f in $(cd "$WORK/local" 2>/dev/null && ls); do
  cmp -s "$WORK/local/$f" "$WORK/one/$f" || differ="$differ $f"
done
nfiles=$(ls "$WORK/local" 2>/dev/null | wc -l)
if [ "$nfiles" -ge 4 ] && [ -z "$differ" ] && [ "$(ls "$WORK/one" | wc -l)" -eq "$nfiles" ]; then
  ok "local and one-worker cluster folders are bit-identical ($nfiles files: $(cd "$WORK/local" && ls | tr '\n' ' '))"
else bad "local vs one-worker cluster: differing files:${differ:- none} ($nfiles files; $one_json)"; fi
seq_json=$("$EQAT" submit --coordinator "$C" "${JOB[@]}" --out "$WORK/seq" --wait --json --progress=false | tail -n 1)
seq_ppl=$(echo "$seq_json" | grep -o '"ppl":[0-9.e+-]*' | head -n 1 | cut -d: -f2)
local_ppl=$(echo "$local_json" | grep -o '"ppl":[0-9.e+-]*' | head -n 1 | cut -d: -f2)
if [ -n "$seq_ppl" ] && [ -n "$local_ppl" ] &&
   awk -v a="$seq_ppl" -v b="$local_ppl" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.005 * b) }'; then
  same=$(cmp -s "$WORK/local/model.safetensors" "$WORK/seq/model.safetensors" && echo "bit-identical" || echo "not bit-identical")
  ok "sequential over 2 workers: ppl $seq_ppl vs local $local_ppl (within 0.5%; model.safetensors $same)"
else bad "sequential ppl '$seq_ppl' vs local '$local_ppl' ($seq_json)"; fi
# Sample value of an unlabelled series NAME from HOST:PORT's /metrics.
metric_value() { http_get "$1" /metrics | awk -v n="$2" '$1 == n { print $2 + 0; exit }'; }
coord_blocks=$(metric_value "$COORDINATOR_METRICS" eqat_coordinator_blocks_completed_total)
w0_blocks=$(metric_value "127.0.0.1:$((PORT + 11))" eqat_blocks_completed_total)
w1_blocks=$(metric_value "127.0.0.1:$((PORT + 13))" eqat_blocks_completed_total)
if [ -n "$coord_blocks" ] && [ -n "$w0_blocks" ] && [ -n "$w1_blocks" ] &&
   awk -v c="$coord_blocks" -v a="$w0_blocks" -v b="$w1_blocks" 'BEGIN { exit !(c > 0 && a + b == c) }'; then
  ok "blocks completed: workers $w0_blocks + $w1_blocks = coordinator $coord_blocks"
else bad "blocks completed: workers '$w0_blocks' + '$w1_blocks' vs coordinator '$coord_blocks'"; fi

# 3. pipelined completes
pipe_json=$("$EQAT" submit --coordinator "$C" "${JOB[@]}" --out "$WORK/pipe" --schedule pipelined --wait --json --progress=false | tail -n 1)
if echo "$pipe_json" | grep -q '"state":"SUCCEEDED"'; then
  ok "pipelined schedule completes: $(echo "$pipe_json" | grep -o '"ppl":[0-9.e+-]*') (sequential: $seq_ppl)"
else bad "pipelined: $pipe_json"; fi
# ... and its stages overlapped: stage 0 streamed to stage 1 while training (MREM-P)
pipe_id=$(echo "$pipe_json" | grep -o '"id":"[^"]*"' | cut -d'"' -f4)
pipe_events=$("$EQAT" watch --coordinator "$C" "$pipe_id" --progress=false 2>&1)
if echo "$pipe_events" | grep -q "stage 0 streams to stage 1 while training"; then
  ok "pipelined: stage 0 streamed to stage 1 while training"
else bad "pipelined: no 'streams to stage 1 while training' event for $pipe_id"; fi

# 3b. RTN without calibration over 2 stages: no activations flow between them
rtn_json=$("$EQAT" submit --coordinator "$C" --model "$REPO/models/stories260K" --method rtn --bits 4 \
  --group -1 --eval-text "$REPO/data/wikitext2_test.raw" --eval-seqlen 256 --eval-max-windows 2 \
  --out "$WORK/rtn" --wait --json --progress=false 2>&1 | tail -n 1)
if echo "$rtn_json" | grep -q '"state":"SUCCEEDED"' && echo "$rtn_json" | grep -q '"stages":\[{[^]]*},{'; then
  ok "RTN without calibration over 2 stages succeeds"
else bad "RTN over 2 stages: $rtn_json"; fi

# 4. cancel mid-job, then the next job succeeds
cid=$("$EQAT" submit --coordinator "$C" "${JOB[@]}" --samples 256 --out "$WORK/cancel" --json | grep -o '"id":"[^"]*"' | cut -d'"' -f4)
for _ in $(seq 1 100); do
  "$EQAT" status --coordinator "$C" "$cid" --json | grep -q '"state":"RUNNING"' && break
  sleep 0.2
done
"$EQAT" cancel --coordinator "$C" "$cid" > /dev/null
cstate=$("$EQAT" status --coordinator "$C" "$cid" --json)
next_json=$("$EQAT" submit --coordinator "$C" "${JOB[@]}" --out "$WORK/after-cancel" --wait --json --progress=false | tail -n 1)
if echo "$cstate" | grep -q '"state":"CANCELLED"' && echo "$next_json" | grep -q '"state":"SUCCEEDED"' &&
   [ ! -e "$WORK/cancel" ]; then
  ok "cancel mid-job ($cid cancelled, no output written) and the next job succeeds"
else bad "cancel: $cstate / next: $next_json"; fi

# 5. kill the worker running a stage
kid=$("$EQAT" submit --coordinator "$C" "${JOB[@]}" --samples 256 --max-stages 1 --out "$WORK/kill" --json | grep -o '"id":"[^"]*"' | cut -d'"' -f4)
victim=""
for _ in $(seq 1 150); do
  victim=$("$EQAT" status --coordinator "$C" "$kid" | awk '/stage 0/ && /running/ {print $6}')
  [ -n "$victim" ] && break
  sleep 0.2
done
pid=""
for log in "$STATE"/logs/worker*.log; do
  if grep -q "registered as $victim\$" "$log"; then
    name=$(basename "$log" .log)
    pid=$(awk -v n="$name" '$1 == n {print $2}' "$STATE/pids")
  fi
done
if [ -n "$pid" ]; then
  kill -9 "$pid"
  end=$(timeout 180 "$EQAT" watch --coordinator "$C" "$kid" --progress=false 2>&1)
  rc=$?
  if [ $rc -ne 124 ] && echo "$end" | grep -q "lost (no heartbeat"; then
    ok "worker $victim killed mid-stage: clear event, job ended: $(echo "$end" | tail -n 1)"
  else bad "worker kill: rc $rc: $(echo "$end" | tail -n 5)"; fi
else bad "worker kill: could not find the worker running stage 0 ('$victim')"; fi

# 1b. the real Prometheus server scraped the targets
targets=$(http_get "$PROMETHEUS" "/api/v1/targets?state=active")
nup=$(echo "$targets" | grep -o '"health":"up"' | wc -l)
if [ "$nup" -ge 2 ]; then ok "Prometheus scrapes the cluster ($nup targets up)"
else bad "Prometheus targets: $(echo "$targets" | head -c 300)"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
