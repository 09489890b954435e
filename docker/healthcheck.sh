#!/usr/bin/env bash
# eqat-healthcheck [HOST:PORT]: exit 0 if http://HOST:PORT/healthz answers
# 200 (the metrics server is up; the body is empty), 1 otherwise. For Docker
# HEALTHCHECK in images without curl: pure bash (/dev/tcp). Default address:
# $EQAT_HEALTH_ADDR, else 127.0.0.1:9090
# (the metrics port of both images; set EQAT_HEALTH_ADDR when --metrics-listen
# is changed).
set -euo pipefail
addr=${1:-${EQAT_HEALTH_ADDR:-127.0.0.1:9090}}
host=${addr%:*}
port=${addr##*:}
{ exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$addr" >&3
status=""
IFS= read -r -t 3 -u 3 status || true
[[ "${status%$'\r'}" =~ ^HTTP/1\.[01]\ 200 ]]
