#!/usr/bin/env bash
# load.sh: N jobs queued at once on a 2-worker local cluster (secure
# defaults) all finish; ListJobs pages them correctly; the coordinator's RSS
# before and after. Jobs are RTN W4 on the bundled stories260K with a short
# evaluation, so the run measures the service, not training.
#   bench/load.sh [BUILD_DIR] [N]        (default build, 50)
# Prints one JSON line: jobs, succeeded, failed, wall_seconds, jobs_per_minute,
# list_pages_ok, coordinator_rss_kib_before/after (VmRSS), peak (VmHWM).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$REPO/build}" && pwd)
N=${2:-50}
EQAT="$BUILD/client/eqat"
WORK=$(mktemp -d /tmp/eqat-load.XXXXXX)
STATE="$WORK/cluster"
trap '"$REPO/deploy/local-cluster.sh" stop --state-dir "$STATE" >/dev/null 2>&1; rm -rf "$WORK"' EXIT

"$REPO/deploy/local-cluster.sh" 2 --build "$BUILD" --state-dir "$STATE" --base-port 24400 \
  --allowed-root "$REPO,$WORK" --worker-arg --threads=1 --no-prometheus >"$WORK/start.log" 2>&1 ||
  { cat "$WORK/start.log"; exit 1; }
set -a; source "$STATE/cluster.env"; set +a
C=$COORDINATOR
coord_pid=$(awk '$1 == "coordinator" {print $2}' "$STATE/pids")
rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$coord_pid/status"; }
sleep 2
rss_before=$(rss VmRSS)

t0=$(date +%s.%N)
for i in $(seq 1 "$N"); do
  "$EQAT" submit --coordinator "$C" --model "$REPO/models/stories260K" --method rtn --bits 4 \
    --group -1 --eval-text "$REPO/data/wikitext2_test.raw" --eval-seqlen 256 --eval-max-windows 2 \
    --out "$WORK/out-$i" --json >/dev/null || { echo "submit $i failed" >&2; exit 1; }
done
t_queued=$(date +%s.%N)
while :; do
  left=$("$EQAT" list --coordinator "$C" --json | grep -o '"state":"\(QUEUED\|RUNNING\)"' | wc -l)
  (( left == 0 )) && break
  sleep 1
done
t1=$(date +%s.%N)
all=$("$EQAT" list --coordinator "$C" --json)
ok=$(echo "$all" | grep -o '"state":"SUCCEEDED"' | wc -l)
bad=$((N - ok))
# Paging: 7 per page must list the same ids, once each, as one big page.
ids_big=$(echo "$all" | grep -o '"id":"job-[0-9]*"' | sort)
ids_paged=$("$EQAT" list --coordinator "$C" --json --page-size 7 | grep -o '"id":"job-[0-9]*"' | sort)
pages_ok=false
if [[ "$ids_big" == "$ids_paged" && $(echo "$ids_paged" | wc -l) -eq $N &&
      $(echo "$ids_paged" | uniq | wc -l) -eq $N ]]; then pages_ok=true; fi
rss_after=$(rss VmRSS)
rss_peak=$(rss VmHWM)
python3 - "$N" "$ok" "$bad" "$t0" "$t_queued" "$t1" "$pages_ok" "$rss_before" "$rss_after" "$rss_peak" <<'PY'
import json, sys
n, ok, bad = map(int, sys.argv[1:4])
t0, tq, t1 = map(float, sys.argv[4:7])
print(json.dumps({"jobs": n, "succeeded": ok, "failed": bad,
                  "submit_seconds": round(tq - t0, 2), "wall_seconds": round(t1 - t0, 2),
                  "jobs_per_minute": round(60 * n / (t1 - t0), 2),
                  "list_pages_ok": sys.argv[7] == "true",
                  "coordinator_rss_kib_before": int(sys.argv[8]),
                  "coordinator_rss_kib_after": int(sys.argv[9]),
                  "coordinator_rss_kib_peak": int(sys.argv[10])}))
PY
[[ $bad -eq 0 && "$pages_ok" == true ]]
