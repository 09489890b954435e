#!/usr/bin/env bash
# local-cluster.sh: an eqat cluster on loopback — one coordinator, N workers
# and a real Prometheus server (Debian's /usr/bin/prometheus) scraping them.
# Used by the integration tests and by the README's cluster quick-start.
#
#   deploy/local-cluster.sh N [options]       start (returns once all are healthy)
#   deploy/local-cluster.sh stop   [--state-dir DIR]
#   deploy/local-cluster.sh status [--state-dir DIR]
#
# Options (start):
#   --build DIR         build folder with client/, coordinator/, worker/, common/
#                       (default: REPO/build)
#   --state-dir DIR     pids, logs, coordinator state, Prometheus config + TSDB
#                       (default: REPO/out/local-cluster; out/ is git-ignored)
#   --base-port P       coordinator gRPC on P, its metrics on P+1, Prometheus on
#                       P+2, worker i (0-based) data on P+10+2i, metrics on
#                       P+11+2i (default: 17400)
#   --allowed-root D,.. folders jobs may read/write (default: REPO,/tmp)
#   --device DEV        worker device: cpu (default), cuda:N for all workers, or
#                       "cuda" for cuda:i on worker i
#   --coordinator-arg A extra argument for eqat-coordinator (repeatable)
#   --worker-arg A      extra argument for every eqat-worker (repeatable)
#   --timeout S         seconds to wait for everything to be healthy (default 60)
#   --no-prometheus     do not start Prometheus (its config is still written)
#   --insecure          plaintext gRPC and no tokens (default: TLS everywhere,
#                       workers with certificates, an admin bearer token)
#   --dry-run           write STATE/prometheus.yml (+ rules) and exit; needs no
#                       binaries: `promtool check config STATE/prometheus.yml`
#
# Layout of the state dir:
#   pids                "NAME PID EXE" per started process (read by stop)
#   cluster.env         COORDINATOR=, COORDINATOR_METRICS=, PROMETHEUS=, WORKERS=
#                       (comma-separated data addresses), STATE_DIR= (host:port),
#                       and EQAT_TLS_CA= + EQAT_TOKEN_FILE= for `eqat` (or
#                       EQAT_INSECURE=1): `set -a; . STATE/cluster.env; set +a`
#   tls/                CA, certificates, tokens.csv, admin.token, made by
#                       deploy/make-certs.sh on first start and kept after
#   logs/NAME.log       stdout+stderr of each process
#   coordinator/        the coordinator's --state-dir (job store)
#   prometheus.yml, alerts.yml, prometheus-data/
#
# Everything binds 127.0.0.1 only. If startup fails (a port is taken, a
# process exits, a health check times out, Ctrl-C) every process this run
# started is killed and the script exits non-zero with the failing log's tail.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROG=$(basename "$0")

die() { echo "$PROG: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

# ---- arguments ---------------------------------------------------------------
MODE=""
NWORKERS=""
BUILD="$REPO/build"
STATE="$REPO/out/local-cluster"
BASE_PORT=17400
ALLOWED_ROOTS="$REPO,/tmp"
DEVICE=cpu
TIMEOUT=60
START_PROMETHEUS=1
DRY_RUN=0
INSECURE=0
COORD_EXTRA=()
WORKER_EXTRA=()

need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    stop|status)
      [[ -z "$MODE" ]] || die "unexpected '$1'"
      MODE=$1; shift ;;
    --build) need_value "$@"; BUILD=$2; shift 2 ;;
    --build=*) BUILD=${1#*=}; shift ;;
    --state-dir) need_value "$@"; STATE=$2; shift 2 ;;
    --state-dir=*) STATE=${1#*=}; shift ;;
    --base-port) need_value "$@"; BASE_PORT=$2; shift 2 ;;
    --base-port=*) BASE_PORT=${1#*=}; shift ;;
    --allowed-root) need_value "$@"; ALLOWED_ROOTS=$2; shift 2 ;;
    --allowed-root=*) ALLOWED_ROOTS=${1#*=}; shift ;;
    --device) need_value "$@"; DEVICE=$2; shift 2 ;;
    --device=*) DEVICE=${1#*=}; shift ;;
    --timeout) need_value "$@"; TIMEOUT=$2; shift 2 ;;
    --timeout=*) TIMEOUT=${1#*=}; shift ;;
    --coordinator-arg) need_value "$@"; COORD_EXTRA+=("$2"); shift 2 ;;
    --coordinator-arg=*) COORD_EXTRA+=("${1#*=}"); shift ;;
    --worker-arg) need_value "$@"; WORKER_EXTRA+=("$2"); shift 2 ;;
    --worker-arg=*) WORKER_EXTRA+=("${1#*=}"); shift ;;
    --no-prometheus) START_PROMETHEUS=0; shift ;;
    --insecure) INSECURE=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
      [[ -z "$MODE" ]] || die "unexpected argument '$1'"
      if ! [[ "$1" =~ ^[0-9]+$ ]] || (( 10#$1 < 1 || 10#$1 > 64 )); then
        die "worker count must be an integer in 1..64, got '$1'"
      fi
      MODE=start; NWORKERS=$((10#$1)); shift ;;
  esac
done
[[ -n "$MODE" ]] || { usage >&2; exit 2; }

if [[ "$MODE" == start ]]; then
  mkdir -p "$STATE"
elif [[ ! -d "$STATE" ]]; then
  echo "$PROG: no cluster state in $STATE"
  [[ "$MODE" == stop ]] && exit 0 || exit 1
fi
STATE=$(cd "$STATE" && pwd)
PIDS="$STATE/pids"
LOGS="$STATE/logs"
TLS_DIR="$STATE/tls"

# ---- process bookkeeping -----------------------------------------------------
# A pid is ours only if /proc/PID/exe still is the binary we started (pids are
# reused); processes whose exe cannot be read are matched by argv[0].
pid_is() {
  local pid=$1 exe=$2 actual argv0
  [[ -d /proc/$pid ]] || return 1
  actual=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  actual=${actual% (deleted)}
  # Explicit return codes throughout: a bare `return` in a function called from
  # a trap handler (cleanup) returns the status from before the trap.
  if [[ -n "$actual" ]]; then
    if [[ "$actual" == "$exe" ]]; then return 0; fi
    return 1
  fi
  argv0=$({ tr '\0' '\n' <"/proc/$pid/cmdline" | head -n1; } 2>/dev/null || true)
  if [[ -n "$argv0" && "$(basename "$argv0")" == "$(basename "$exe")" ]]; then return 0; fi
  return 1
}

# stop_pids FILE: SIGTERM to every live process listed (last started first),
# wait up to 15 s, then SIGKILL the rest.
stop_pids() {
  local file=$1 name pid exe deadline alive
  local -a names=() pids=() exes=()
  [[ -s "$file" ]] || return 0
  while read -r name pid exe; do
    [[ -n "${pid:-}" ]] || continue
    names=("$name" "${names[@]}"); pids=("$pid" "${pids[@]}"); exes=("$exe" "${exes[@]}")
  done <"$file"
  local i
  for i in "${!pids[@]}"; do
    if pid_is "${pids[$i]}" "${exes[$i]}"; then
      kill -TERM "${pids[$i]}" 2>/dev/null || true
    fi
  done
  deadline=$((SECONDS + 15))
  while :; do
    alive=0
    for i in "${!pids[@]}"; do
      pid_is "${pids[$i]}" "${exes[$i]}" && alive=1
    done
    (( alive )) || break
    if (( SECONDS >= deadline )); then
      for i in "${!pids[@]}"; do
        if pid_is "${pids[$i]}" "${exes[$i]}"; then
          echo "$PROG: ${names[$i]} (pid ${pids[$i]}) ignored SIGTERM; sending SIGKILL" >&2
          kill -KILL "${pids[$i]}" 2>/dev/null || true
        fi
      done
      break
    fi
    sleep 0.2
  done
}

any_alive() {
  local name pid exe
  [[ -s "$1" ]] || return 1
  while read -r name pid exe; do
    [[ -n "${pid:-}" ]] && pid_is "$pid" "$exe" && return 0
  done <"$1"
  return 1
}

if [[ "$MODE" == stop ]]; then
  if [[ ! -s "$PIDS" ]]; then
    echo "$PROG: nothing to stop in $STATE"
    exit 0
  fi
  stop_pids "$PIDS"
  rm -f "$PIDS"
  echo "$PROG: stopped the cluster in $STATE (logs kept in $LOGS)"
  exit 0
fi

if [[ "$MODE" == status ]]; then
  [[ -s "$PIDS" ]] || { echo "$PROG: no cluster in $STATE"; exit 1; }
  rc=0
  while read -r name pid exe; do
    if pid_is "$pid" "$exe"; then
      printf '%-14s pid %-8s running\n' "$name" "$pid"
    else
      printf '%-14s pid %-8s NOT running\n' "$name" "$pid"; rc=1
    fi
  done <"$PIDS"
  [[ -s "$STATE/cluster.env" ]] && cat "$STATE/cluster.env"
  exit "$rc"
fi

# ---- start: validate ---------------------------------------------------------
if ! [[ "$BASE_PORT" =~ ^[0-9]+$ ]] || (( 10#$BASE_PORT < 1024 )); then
  die "--base-port must be an integer >= 1024, got '$BASE_PORT'"
fi
BASE_PORT=$((10#$BASE_PORT))
if ! [[ "$TIMEOUT" =~ ^[0-9]+$ ]] || (( 10#$TIMEOUT < 1 )); then
  die "--timeout must be a positive integer, got '$TIMEOUT'"
fi
TIMEOUT=$((10#$TIMEOUT))
LAST_PORT=$((BASE_PORT + 11 + 2 * (NWORKERS - 1)))
(( LAST_PORT <= 65535 )) || die "--base-port $BASE_PORT leaves no room for $NWORKERS workers"
case "$DEVICE" in
  cpu|cuda|cuda:[0-9]*) ;;
  *) die "--device must be cpu, cuda or cuda:N, got '$DEVICE'" ;;
esac

HOST=127.0.0.1
COORD_ADDR="$HOST:$BASE_PORT"
COORD_METRICS="$HOST:$((BASE_PORT + 1))"
PROM_ADDR="$HOST:$((BASE_PORT + 2))"
worker_data()    { echo "$HOST:$((BASE_PORT + 10 + 2 * $1))"; }
worker_metrics() { echo "$HOST:$((BASE_PORT + 11 + 2 * $1))"; }
worker_device() {
  if [[ "$DEVICE" == cuda ]]; then echo "cuda:$1"; else echo "$DEVICE"; fi
}

# ---- Prometheus config (also all of --dry-run) -------------------------------
write_prometheus_config() {
  local cfg="$STATE/prometheus.yml" tmp i rules=""
  if [[ -f "$REPO/deploy/prometheus/alerts.yml" ]]; then
    cp "$REPO/deploy/prometheus/alerts.yml" "$STATE/alerts.yml"
    rules=$'rule_files:\n  - alerts.yml\n'
  fi
  tmp=$(mktemp "$STATE/.prometheus.yml.XXXXXX")
  {
    echo "# Generated by deploy/local-cluster.sh for $NWORKERS worker(s); rewritten on every start."
    echo "global:"
    echo "  scrape_interval: 2s"
    echo "  scrape_timeout: 2s"
    echo "  evaluation_interval: 2s"
    echo "  external_labels:"
    echo "    cluster: local"
    printf '%s' "$rules"
    echo "scrape_configs:"
    echo "  - job_name: eqat-coordinator"
    echo "    static_configs:"
    echo "      - targets: ['$COORD_METRICS']"
    echo "        labels: {role: coordinator}"
    echo "  - job_name: eqat-worker"
    echo "    static_configs:"
    for ((i = 0; i < NWORKERS; i++)); do
      echo "      - targets: ['$(worker_metrics "$i")']"
      echo "        labels: {role: worker, worker_index: '$i', data_address: '$(worker_data "$i")'}"
    done
    echo "  - job_name: prometheus"
    echo "    static_configs:"
    echo "      - targets: ['$PROM_ADDR']"
  } >"$tmp"
  mv -f "$tmp" "$cfg"
}

write_env() {
  local tmp i workers=""
  for ((i = 0; i < NWORKERS; i++)); do
    workers+="${workers:+,}$(worker_data "$i")"
  done
  tmp=$(mktemp "$STATE/.cluster.env.XXXXXX")
  {
    echo "COORDINATOR=$COORD_ADDR"
    echo "COORDINATOR_METRICS=$COORD_METRICS"
    echo "PROMETHEUS=$PROM_ADDR"
    echo "WORKERS=$workers"
    echo "STATE_DIR=$STATE"
    if (( INSECURE )); then
      echo "EQAT_INSECURE=1"
    else
      echo "EQAT_TLS_CA=$TLS_DIR/ca.pem"
      echo "EQAT_TOKEN_FILE=$TLS_DIR/admin.token"
    fi
  } >"$tmp"
  mv -f "$tmp" "$STATE/cluster.env"
}

if (( DRY_RUN )); then
  write_prometheus_config
  write_env
  echo "$PROG: dry run: wrote $STATE/prometheus.yml and $STATE/cluster.env"
  exit 0
fi

# ---- start: preconditions ----------------------------------------------------
[[ -d "$BUILD" ]] || die "build folder '$BUILD' not found (make build, or --build DIR)"
BUILD=$(cd "$BUILD" && pwd)
COORD_BIN="$BUILD/coordinator/eqat-coordinator"
WORKER_BIN="$BUILD/worker/eqat-worker"
for b in "$COORD_BIN" "$WORKER_BIN"; do
  [[ -x "$b" ]] || die "'$b' not found or not executable (build it first)"
done
PROM_BIN=""
if (( START_PROMETHEUS )); then
  PROM_BIN=$(command -v prometheus || true)
  [[ -n "$PROM_BIN" ]] || die "prometheus not found (apt-get install prometheus, or --no-prometheus)"
fi
if [[ -z "${EQAT_SPM_SHIM:-}" && -f "$BUILD/common/libeqat_spm.so" ]]; then
  export EQAT_SPM_SHIM="$BUILD/common/libeqat_spm.so"
fi
IFS=, read -r -a _roots <<<"$ALLOWED_ROOTS"
for r in "${_roots[@]}"; do
  [[ -d "$r" ]] || die "allowed root '$r' is not a folder"
done

if any_alive "$PIDS"; then
  die "a cluster from $STATE is still running; run '$0 stop --state-dir $STATE' first"
fi

# http_get HOST PORT PATH: prints the body of a 200 answer; non-zero otherwise.
# Pure bash (/dev/tcp), HTTP/1.0 so the server closes; reads time out after 2 s.
http_get() (
  local host=$1 port=$2 path=$3 line status="" body="" in_body=0
  exec 3<>"/dev/tcp/$host/$port" || exit 1
  printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' \
    "$path" "$host" "$port" >&3 || exit 1
  while IFS= read -r -t 2 -u 3 line || [[ -n "$line" ]]; do
    line=${line%$'\r'}
    if [[ -z "$status" ]]; then
      status=$line
    elif (( in_body )); then
      body+="$line"$'\n'
    elif [[ -z "$line" ]]; then
      in_body=1
    fi
    line=""
  done
  exec 3<&-
  [[ "$status" =~ ^HTTP/1\.[01]\ 200 ]] || exit 1
  printf '%s' "$body"
)

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

ports=("$BASE_PORT" "$((BASE_PORT + 1))")
(( START_PROMETHEUS )) && ports+=("$((BASE_PORT + 2))")
for ((i = 0; i < NWORKERS; i++)); do
  ports+=("$((BASE_PORT + 10 + 2 * i))" "$((BASE_PORT + 11 + 2 * i))")
done
for p in "${ports[@]}"; do
  if port_in_use "$p"; then
    die "port $HOST:$p is already in use (choose another --base-port)"
  fi
done

# ---- start: processes --------------------------------------------------------
mkdir -p "$LOGS" "$STATE/coordinator" "$STATE/prometheus-data"
: >"$PIDS"
STARTED_OK=0

cleanup() {
  local rc=$?
  if (( ! STARTED_OK )); then
    echo "$PROG: startup failed; stopping what was started" >&2
    stop_pids "$PIDS"
    rm -f "$PIDS"
    (( rc != 0 )) || rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# spawn NAME EXE ARGS...: starts EXE detached from our stdin/stdout, logs to
# LOGS/NAME.log, records "NAME PID EXE" in the pids file.
spawn() {
  local name=$1 exe; shift
  exe=$(readlink -f "$1")
  "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
  local pid=$! i
  echo "$name $pid $exe" >>"$PIDS"
  # Until the child has exec'd, /proc/PID/exe is bash: wait so that the
  # liveness checks (and stop) recognise it.
  for ((i = 0; i < 100; i++)); do
    [[ -d /proc/$pid ]] || break
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == "$exe" ]] && break
    sleep 0.02
  done
}

check_alive() {
  local name pid exe
  while read -r name pid exe; do
    if ! pid_is "$pid" "$exe"; then
      echo "$PROG: $name (pid $pid) exited during startup; last lines of $LOGS/$name.log:" >&2
      tail -n 20 "$LOGS/$name.log" >&2 || true
      return 1
    fi
  done <"$PIDS"
}

# wait_http NAME HOST:PORT PATH: until PATH answers 200 or TIMEOUT passes.
wait_http() {
  local name=$1 addr=$2 path=$3
  while ! http_get "${addr%:*}" "${addr##*:}" "$path" >/dev/null 2>&1; do
    check_alive || exit 1
    if (( SECONDS >= DEADLINE )); then
      echo "$PROG: $name did not answer http://$addr$path within ${TIMEOUT}s; last lines of its log:" >&2
      tail -n 20 "$LOGS/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

write_prometheus_config
write_env
DEADLINE=$((SECONDS + TIMEOUT))

# Security: TLS on every gRPC connection, workers with a certificate of the
# cluster CA, bearer tokens on the public API (deploy/make-certs.sh).
if (( INSECURE )); then
  COORD_SEC=(--insecure)
  WORKER_SEC=(--insecure)
else
  bash "$REPO/deploy/make-certs.sh" "$TLS_DIR" || die "could not make the TLS material in $TLS_DIR"
  COORD_SEC=(--tls-cert "$TLS_DIR/coordinator.pem" --tls-key "$TLS_DIR/coordinator.key"
             --tls-ca "$TLS_DIR/ca.pem" --token-file "$TLS_DIR/tokens.csv")
  WORKER_SEC=(--tls-ca "$TLS_DIR/ca.pem" --tls-cert "$TLS_DIR/worker.pem"
              --tls-key "$TLS_DIR/worker.key")
fi

spawn coordinator "$COORD_BIN" \
  --listen "$COORD_ADDR" --metrics-listen "$COORD_METRICS" \
  --state-dir "$STATE/coordinator" --allowed-root "$ALLOWED_ROOTS" "${COORD_SEC[@]}" \
  ${COORD_EXTRA[@]+"${COORD_EXTRA[@]}"}
wait_http coordinator "$COORD_METRICS" /healthz

for ((i = 0; i < NWORKERS; i++)); do
  spawn "worker-$i" "$WORKER_BIN" \
    --coordinator "$COORD_ADDR" --listen "$(worker_data "$i")" \
    --metrics-listen "$(worker_metrics "$i")" --device "$(worker_device "$i")" "${WORKER_SEC[@]}" \
    ${WORKER_EXTRA[@]+"${WORKER_EXTRA[@]}"}
done
for ((i = 0; i < NWORKERS; i++)); do
  wait_http "worker-$i" "$(worker_metrics "$i")" /healthz
done

if (( START_PROMETHEUS )); then
  # Debian's binary; the packaged systemd service is never used.
  spawn prometheus "$PROM_BIN" \
    --config.file "$STATE/prometheus.yml" \
    --storage.tsdb.path "$STATE/prometheus-data" \
    --storage.tsdb.retention.time 2d \
    --web.listen-address "$PROM_ADDR" \
    --web.enable-lifecycle
  wait_http prometheus "$PROM_ADDR" /-/ready
fi

# Registration: the coordinator's eqat_coordinator_worker_up gauge shows 1 per live worker.
# Not fatal: the workers answer /healthz already, and they re-register on their own.
registered=0
while (( SECONDS < DEADLINE )); do
  check_alive || exit 1
  registered=$(http_get "${COORD_METRICS%:*}" "${COORD_METRICS##*:}" /metrics 2>/dev/null \
    | grep -cE '^eqat_coordinator_worker_up(\{[^}]*\})? +1(\.0+)?([eE][+]?0+)?( |$)' || true)
  (( registered >= NWORKERS )) && break
  sleep 0.3
done
if (( registered < NWORKERS )); then
  echo "$PROG: warning: coordinator reports $registered of $NWORKERS workers up so far" >&2
fi

STARTED_OK=1
trap - EXIT INT TERM

cat <<EOF
eqat local cluster is up ($NWORKERS worker(s), device $DEVICE)
  coordinator gRPC   $COORD_ADDR
  coordinator /metrics, /healthz   http://$COORD_METRICS
EOF
for ((i = 0; i < NWORKERS; i++)); do
  echo "  worker-$i           data $(worker_data "$i")   metrics http://$(worker_metrics "$i")/metrics"
done
if (( START_PROMETHEUS )); then
  echo "  prometheus         http://$PROM_ADDR   (config $STATE/prometheus.yml)"
fi
cat <<EOF
  state dir          $STATE   (pids, cluster.env, logs/)
  allowed roots      $ALLOWED_ROOTS
Client:  set -a; . $STATE/cluster.env; set +a     (TLS CA and admin token for eqat)
Submit:  $BUILD/client/eqat submit --coordinator $COORD_ADDR ...
Stop:    $REPO/deploy/local-cluster.sh stop --state-dir $STATE
EOF
