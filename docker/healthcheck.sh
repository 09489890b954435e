#!/usr/bin/env bash
# eqat-healthcheck [HOST:PORT]: exit 0 if http://HOST:PORT/healthz answers
# 200 "ok", 1 otherwise. For Docker HEALTHCHECK in images without curl: pure
# bash (/dev/tcp). Default address: $EQAT_HEALTH_ADDR, else 127.0.0.1:9090
# (the metrics port of both images; set EQAT_HEALTH_ADDR when --metrics-listen
# is changed).
set -euo pipefail
addr=${1:-${EQAT_HEALTH_ADDR:-127.0.0.1:9090}}
host=${addr%:*}
port=${addr##*:}
{ exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$addr" >&3
status=""
body=""
in_body=0
while IFS= read -r -t 3 -u 3 line || [[ -n "$line" ]]; do
  line=${line%$'\r'}
  if [[ -z "$status" ]]; then
    status=$line
  elif (( in_body )); then
    body+=$line
  elif [[ -z "$line" ]]; then
    in_body=1
  fi
  line=""
done
[[ "$status" =~ ^HTTP/1\.[01]\ 200 && "$body" == ok* ]]
